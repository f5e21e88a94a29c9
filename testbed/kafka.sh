#!/usr/bin/env bash
# Local Apache Kafka clusters for the tests, the demo and the benchmarks:
# KRaft combined mode (each node is broker and controller), on free loopback
# ports, small heaps, from the jars testbed/install.sh fetched.
#
#   kafka.sh init DIR [--version V] [--brokers N] [--name NAME] [--host ADDR]
#       Lays out a cluster in DIR (configs, formatted log dirs, a CA and
#       certificates) and prints its facts as shell assignments (below).
#       --host binds and advertises every listener on ADDR instead of
#       127.0.0.1 (e.g. an address of a network namespace the node is then
#       run in with `ip netns exec NS kafka.sh run DIR 1`; the ports are
#       picked free on the host's loopback, which is enough there).
#   kafka.sh run DIR NODE
#       Runs node NODE (1..N) of DIR in the foreground (the process becomes
#       the JVM); it also stops when its parent process goes away.
#   kafka.sh connect DIR WORKER PORT
#       Runs a Kafka Connect distributed worker in the foreground against
#       the PLAINTEXT listener of the cluster in DIR (its release's jars
#       plus the FileStream connectors from `plugins/`), REST API on
#       http://127.0.0.1:PORT, state in the topics `connect-WORKER-*` and
#       logs in DIR/connect-WORKER/server.log. Workers with the same WORKER
#       name form one Connect cluster. It stops with its parent process.
#       KCP_CONNECT_PROPS (lines) is added to its worker.properties.
#   kafka.sh start DIR [init options]
#       init, then every node in the background; waits until each one has
#       started and prints the facts. `kafka.sh stop DIR` stops them.
#
# Every node has these listeners (DIR/cluster.env names their addresses):
#   PLAINTEXT       no authentication; the principal User:ANONYMOUS is a super user
#   SASL_PLAINTEXT  PLAIN (users admin/admin-secret and alice/alice-secret),
#                   SCRAM-SHA-256 and SCRAM-SHA-512 (users created with the
#                   Admin API, e.g. testbed/kafka_admin.py scram-user)
#   SSL             server TLS (DIR/tls/ca.pem), no client certificate
#   MTLS            TLS with a client certificate required (DIR/tls/client.pem,
#                   principal User:CN=kcp-client)
#   SASL_SSL        PLAIN and SCRAM over server TLS
# The standard authorizer is on: User:ANONYMOUS and User:admin are super
# users; every other principal needs ACLs.
#
# Environment: KCP_KAFKA_ROOT, KCP_KAFKA_VERSIONS, KCP_JAVA (from install.sh),
# KCP_KAFKA_HEAP (default 512m), KCP_KAFKA_JVM_OPTS (added to the JVM's).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
kafka_root="${KCP_KAFKA_ROOT:-$HOME/.cache/kcp/kafka}"
default_version="${KCP_KAFKA_VERSIONS:-4.1.1 3.9.1}"
default_version="${default_version%% *}"
java="${KCP_JAVA:-java}"

die() { printf 'kafka.sh: %s\n' "$*" >&2; exit 2; }

# free_ports N: N distinct free loopback ports, one per line.
free_ports() {
  python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print("\n".join(str(s.getsockname()[1]) for s in socks))
PY
}

# A Kafka cluster id: 16 random bytes, URL-safe base64 without padding,
# not starting with `-` (the storage tool would take it for an option).
new_cluster_id() {
  local id=-
  while [[ $id == -* ]]; do id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"; done
  printf '%s\n' "$id"
}

# certs DIR [ADDR]: a CA, a server certificate for 127.0.0.1/localhost (and
# ADDR) and a client certificate (CN=kcp-client), PEM, unencrypted PKCS#8 keys.
certs() {
  local d="$1/tls" extra_ip=""
  [[ -n ${2:-} && ${2:-} != 127.0.0.1 ]] && extra_ip=",IP:$2"
  mkdir -p "$d"
  (
    cd "$d"
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=kcp-test-ca" \
      -keyout ca.key -out ca.pem 2>/dev/null
    for who in server client; do
      local cn=localhost ext="subjectAltName=IP:127.0.0.1,DNS:localhost$extra_ip"
      [[ $who == client ]] && cn=kcp-client ext="extendedKeyUsage=clientAuth"
      openssl req -newkey rsa:2048 -nodes -subj "/CN=$cn" -keyout "$who.key" -out "$who.csr" 2>/dev/null
      openssl x509 -req -in "$who.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
        -extfile <(printf '%s\n' "$ext") -out "$who.crt" 2>/dev/null
      openssl pkcs8 -topk8 -nocrypt -in "$who.key" -out "$who.pk8"
      cat "$who.crt" "$who.pk8" >"$who.pem"
      rm -f "$who.csr"
    done
  )
}

cmd_init() {
  local dir="$1"; shift
  local version="$default_version" brokers=1 name=kafka host=127.0.0.1
  while (($#)); do
    case "$1" in
      --version) version="$2"; shift 2 ;;
      --brokers) brokers="$2"; shift 2 ;;
      --name) name="$2"; shift 2 ;;
      --host) host="$2"; shift 2 ;;
      *) die "unknown option $1" ;;
    esac
  done
  local libs="$kafka_root/$version/libs"
  [[ -f "$libs/kafka_2.13-$version.jar" ]] || die "Kafka $version is not installed in $kafka_root: run \`bash testbed/install.sh\` (or add it to KCP_KAFKA_VERSIONS)"
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  certs "$dir" "$host"
  local ports=() i
  mapfile -t ports < <(free_ports $((brokers * 6)))
  local voters="" plain="" sasl="" ssl="" mtls="" sasl_ssl=""
  for ((i = 1; i <= brokers; i++)); do
    local b=$(((i - 1) * 6))
    voters+="${voters:+,}$i@$host:${ports[b + 1]}"
    plain+="${plain:+,}$host:${ports[b]}"
    sasl+="${sasl:+,}$host:${ports[b + 2]}"
    ssl+="${ssl:+,}$host:${ports[b + 3]}"
    mtls+="${mtls:+,}$host:${ports[b + 4]}"
    sasl_ssl+="${sasl_ssl:+,}$host:${ports[b + 5]}"
  done
  local rf=$((brokers < 3 ? brokers : 3))
  local min_isr=$((rf > 1 ? 2 : 1))
  local cluster_id
  cluster_id="$(new_cluster_id)"
  for ((i = 1; i <= brokers; i++)); do
    local b=$(((i - 1) * 6)) node="$dir/node-$i"
    mkdir -p "$node"
    local p0=${ports[b]} pc=${ports[b + 1]} p2=${ports[b + 2]} p3=${ports[b + 3]} p4=${ports[b + 4]} p5=${ports[b + 5]}
    cat >"$node/server.properties" <<PROPS
# $name, node $i of $brokers (Kafka $version), written by testbed/kafka.sh
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$voters
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://$host:$p0,CONTROLLER://$host:$pc,SASL_PLAINTEXT://$host:$p2,SSL://$host:$p3,MTLS://$host:$p4,SASL_SSL://$host:$p5
advertised.listeners=PLAINTEXT://$host:$p0,SASL_PLAINTEXT://$host:$p2,SSL://$host:$p3,MTLS://$host:$p4,SASL_SSL://$host:$p5
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL,MTLS:SSL,SASL_SSL:SASL_SSL
inter.broker.listener.name=PLAINTEXT
log.dirs=$node/data

authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS;User:admin

sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_admin="admin-secret" user_alice="alice-secret";
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_admin="admin-secret" user_alice="alice-secret";
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;

ssl.keystore.type=PEM
ssl.keystore.location=$dir/tls/server.pem
ssl.truststore.type=PEM
ssl.truststore.location=$dir/tls/ca.pem
ssl.endpoint.identification.algorithm=
listener.name.mtls.ssl.client.auth=required
ssl.principal.mapping.rules=RULE:^CN=([^,]+)\$/CN=\$1/,DEFAULT

offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$min_isr
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$min_isr
default.replication.factor=$rf
group.initial.rebalance.delay.ms=0
num.partitions=1
num.network.threads=2
num.io.threads=4
log.retention.check.interval.ms=5000
PROPS
    "$java" -cp "$libs/*" -Dlog4j2.configurationFile="$here/kafka/log4j2.properties" \
      -Dlog4j.configuration="file:$here/kafka/log4j.properties" -Dkafka.logs.dir="$node" \
      kafka.tools.StorageTool format -t "$cluster_id" -c "$node/server.properties" --ignore-formatted >"$node/format.log" 2>&1 ||
      die "formatting $node failed: $(cat "$node/format.log")"
  done
  cat >"$dir/cluster.env" <<ENV
KAFKA_NAME=$name
KAFKA_VERSION=$version
KAFKA_BROKERS=$brokers
KAFKA_CLUSTER_ID=$cluster_id
KAFKA_BOOTSTRAP=$plain
KAFKA_SASL_BOOTSTRAP=$sasl
KAFKA_SSL_BOOTSTRAP=$ssl
KAFKA_MTLS_BOOTSTRAP=$mtls
KAFKA_SASL_SSL_BOOTSTRAP=$sasl_ssl
KAFKA_CA=$dir/tls/ca.pem
KAFKA_CLIENT_CERT=$dir/tls/client.crt
KAFKA_CLIENT_KEY=$dir/tls/client.pk8
ENV
  cat "$dir/cluster.env"
}

cmd_run() {
  local dir="$1" node="$2"
  # shellcheck disable=SC1091
  source "$dir/cluster.env"
  local libs="$kafka_root/$KAFKA_VERSION/libs"
  local parent=$PPID me=$$
  # Stop the broker when whoever started it is gone (a test killed by a
  # signal cannot run its destructors). After `exec` below, $me is the JVM.
  [[ -n ${KCP_KAFKA_DETACHED:-} ]] || (while kill -0 "$parent" 2>/dev/null && kill -0 "$me" 2>/dev/null; do sleep 1; done
   kill -9 "$me" 2>/dev/null) </dev/null >/dev/null 2>&1 &
  # shellcheck disable=SC2086
  exec "$java" -Xms128m -Xmx"${KCP_KAFKA_HEAP:-512m}" -XX:+UseSerialGC -XX:+ExitOnOutOfMemoryError \
    -Djava.awt.headless=true -Dkafka.logs.dir="$dir/node-$node" \
    -Dlog4j2.configurationFile="$here/kafka/log4j2.properties" \
    -Dlog4j.configuration="file:$here/kafka/log4j.properties" \
    ${KCP_KAFKA_JVM_OPTS:-} -cp "$libs/*" kafka.Kafka "$dir/node-$node/server.properties"
}

cmd_connect() {
  local dir="$1" worker="$2" port="$3"
  # shellcheck disable=SC1091
  source "$dir/cluster.env"
  local home="$kafka_root/$KAFKA_VERSION"
  local wdir="$dir/connect-$worker"
  mkdir -p "$wdir"
  cat >"$wdir/worker.properties" <<PROPS
bootstrap.servers=$KAFKA_BOOTSTRAP
group.id=connect-$worker
key.converter=org.apache.kafka.connect.json.JsonConverter
value.converter=org.apache.kafka.connect.json.JsonConverter
offset.storage.topic=connect-$worker-offsets
offset.storage.partitions=3
config.storage.topic=connect-$worker-configs
status.storage.topic=connect-$worker-status
status.storage.partitions=1
offset.storage.replication.factor=1
config.storage.replication.factor=1
status.storage.replication.factor=1
offset.flush.interval.ms=1000
listeners=http://127.0.0.1:$port
rest.advertised.host.name=127.0.0.1
rest.advertised.port=$port
scheduled.rebalance.max.delay.ms=1000
${KCP_CONNECT_PROPS:-}
PROPS
  local parent=$PPID me=$$
  [[ -n ${KCP_KAFKA_DETACHED:-} ]] || (while kill -0 "$parent" 2>/dev/null && kill -0 "$me" 2>/dev/null; do sleep 1; done
   kill -9 "$me" 2>/dev/null) </dev/null >/dev/null 2>&1 &
  # shellcheck disable=SC2086
  exec "$java" -Xms64m -Xmx"${KCP_CONNECT_HEAP:-256m}" -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true -Dkafka.logs.dir="$wdir" \
    -Dlog4j2.configurationFile="$here/kafka/log4j2.properties" \
    -Dlog4j.configuration="file:$here/kafka/log4j.properties" \
    ${KCP_KAFKA_JVM_OPTS:-} -cp "$home/libs/*:$home/plugins/*" \
    org.apache.kafka.connect.cli.ConnectDistributed "$wdir/worker.properties"
}

cmd_start() {
  local dir="$1"; shift
  cmd_init "$dir" "$@" >/dev/null
  dir="$(cd "$dir" && pwd)"
  # shellcheck disable=SC1091
  source "$dir/cluster.env"
  local i
  for ((i = 1; i <= KAFKA_BROKERS; i++)); do
    # Detached: the node outlives this script, until `kafka.sh stop`.
    KCP_KAFKA_DETACHED=1 setsid bash "$here/kafka.sh" run "$dir" "$i" >"$dir/node-$i/stdout.log" 2>&1 </dev/null &
    echo $! >"$dir/node-$i/pid"
  done
  for ((i = 1; i <= KAFKA_BROKERS; i++)); do
    local waited=0
    until grep -q 'Kafka Server started' "$dir/node-$i/server.log" 2>/dev/null; do
      kill -0 "$(<"$dir/node-$i/pid")" 2>/dev/null ||
        die "node $i of $dir exited: $(tail -20 "$dir/node-$i/stdout.log" "$dir/node-$i/server.log" 2>/dev/null)"
      ((waited++ < 600)) || die "node $i of $dir did not start within 60 s (see $dir/node-$i/server.log)"
      sleep 0.1
    done
  done
  cat "$dir/cluster.env"
}

cmd_stop() {
  local dir="$1" pidfile
  for pidfile in "$dir"/node-*/pid; do
    [[ -f $pidfile ]] && kill "$(<"$pidfile")" 2>/dev/null || true
  done
}

case "${1:-}" in
  init) shift; [[ $# -ge 1 ]] || die "usage: kafka.sh init DIR [options]"; cmd_init "$@" ;;
  run) shift; [[ $# -eq 2 ]] || die "usage: kafka.sh run DIR NODE"; cmd_run "$@" ;;
  connect) shift; [[ $# -eq 3 ]] || die "usage: kafka.sh connect DIR WORKER PORT"; cmd_connect "$@" ;;
  start) shift; [[ $# -ge 1 ]] || die "usage: kafka.sh start DIR [options]"; cmd_start "$@" ;;
  stop) shift; [[ $# -eq 1 ]] || die "usage: kafka.sh stop DIR"; cmd_stop "$@" ;;
  *) die "usage: kafka.sh init|run|connect|start|stop DIR ... (see the header of this file)" ;;
esac
