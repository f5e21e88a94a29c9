#!/usr/bin/env bash
# The main job end to end on local defaults: start two local Apache Kafka
# clusters (KRaft, testbed/kafka.sh: the source on Kafka 3.x like most MSK
# clusters, the target on 4.x), load sample data into the first and keep a
# live producer and consumer (testbed/live_clients.py, librdkafka) working on it; scan it
# with kcp into a state file, validate the state, write the migration-plan
# report, generate the target's assets, write the migration plan, give it
# hooks that move the live clients, and run the whole cutover with
# `kcp migrate execute` while they keep working. A checker then proves that
# no record was lost, duplicated or reordered and prints the pauses.
# Everything lands in ./kcp-demo/ (override with KCP_DEMO_DIR); the brokers
# and clients are stopped on exit.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kcp/target}"

eval "$(bash testbed/install.sh)"
echo "==> building kcp" >&2
cargo build --locked --quiet
kcp="$CARGO_TARGET_DIR/debug/kcp"

work="${KCP_DEMO_DIR:-$repo/kcp-demo}"
rm -rf "$work" && mkdir -p "$work"
clusters=("$work/local" "$work/target")
trap 'for c in "${clusters[@]}"; do bash testbed/kafka.sh stop "$c"; done; kill "${clients[@]}" 2>/dev/null || true' EXIT
clients=()
# start_cluster NAME VERSION: a one-broker Apache Kafka cluster (KRaft) in
# $work/NAME; prints its PLAINTEXT bootstrap address.
start_cluster() {
  bash testbed/kafka.sh start "$work/$1" --name "$1" --version "$2" | sed -n 's/^KAFKA_BOOTSTRAP=//p'
}
echo "==> starting two local Apache Kafka clusters: local (Kafka ${KCP_KAFKA_VERSIONS##* }) and target (Kafka ${KCP_KAFKA_VERSIONS%% *})" >&2
source_bootstrap="$(start_cluster local "${KCP_KAFKA_VERSIONS##* }")"
target_bootstrap="$(start_cluster target "${KCP_KAFKA_VERSIONS%% *}")"
echo "    local: $source_bootstrap, target: $target_bootstrap" >&2

echo "==> loading sample data" >&2
"$KCP_TESTBED_PYTHON" testbed/sample_data.py "$source_bootstrap"

echo "==> starting a live producer and consumer on topic live-orders (group live-billing)" >&2
live=("$KCP_TESTBED_PYTHON" "$repo/testbed/live_clients.py")
echo source >"$work/producer.ctl"
echo source >"$work/consumer.ctl"
"${live[@]}" produce --control "$work/producer.ctl" --source "$source_bootstrap" \
  --target "$target_bootstrap" --topic live-orders --partitions 3 --rate 200 \
  --log "$work/produced.jsonl" 2>"$work/producer.err" &
clients+=($!)
producer=$!
sleep 2
"${live[@]}" consume --control "$work/consumer.ctl" --source "$source_bootstrap" \
  --target "$target_bootstrap" --topic live-orders --group live-billing \
  --log "$work/consumed.jsonl" 2>"$work/consumer.err" &
clients+=($!)
consumer=$!
sleep 3

cat >"$work/kcp-credentials.yaml" <<YAML
clusters:
  - name: local
    bootstrap_servers: ["$source_bootstrap"]
    auth: { method: plaintext }
  - name: target
    bootstrap_servers: ["$target_bootstrap"]
    auth: { method: plaintext }
YAML

export KCP_STATE_FILE="$work/kcp-state.json"
echo "==> kcp scan clusters" >&2
"$kcp" scan clusters --credentials-file "$work/kcp-credentials.yaml" --cluster local --rate-window 2
echo "==> kcp state validate" >&2
"$kcp" state validate
echo "==> kcp report plan (Markdown on stdout, HTML and CSV in $work)" >&2
"$kcp" report plan --source local --target confluent-cloud
"$kcp" report plan --source local --target confluent-cloud --format html --out "$work/plan.html"
"$kcp" report plan --source local --target confluent-cloud --format csv --out "$work/plan.csv"
echo "==> kcp create-asset (Terraform for the target's topics and ACLs, replicator deployments)" >&2
for kind in topics acls replicator; do
  "$kcp" create-asset "$kind" --source local --target-type kafka --target target --out "$work/assets/$kind" --quiet
done
echo "==> kcp migrate init" >&2
"$kcp" migrate init --source local --target target --credentials-file "$work/kcp-credentials.yaml" --plan-out "$work/plan.yaml"
echo "==> adding hooks that move the live clients, shorter waits for the demo" >&2
"$KCP_TESTBED_PYTHON" - "$work/plan.yaml" "${live[*]}" "$work" <<'PY'
import re, sys
path, live, work = sys.argv[1:]
text = open(path).read()
switch = lambda role, to: f"'{live} switch --control {work}/{role}.ctl --to {to}'"
text = text.replace("lag_sustain_secs: 30", "lag_sustain_secs: 5")
# The switch hooks return once the client acknowledged (flushed and
# committed), so kcp need not wait for quiet windows (docs/reference/plan-file.md).
text = text.replace("producer_quiet_secs: 10", "producer_quiet_secs: 0")
text = text.replace("group_quiet_secs: 5", "group_quiet_secs: 0")
text = text.replace("stop_producers: null", "stop_producers: " + switch("producer", "paused"))
text = text.replace("start_producers: null", "start_producers: " + switch("producer", '\"$KCP_START_ON\"'))
wave = re.search(r'groups: \["live-billing"\].*?stop_consumers: null(.*?)start_consumers: null', text, re.S)
text = (text[:wave.start()] + wave.group(0)
        .replace("stop_consumers: null", "stop_consumers: " + switch("consumer", "paused"))
        .replace("start_consumers: null", "start_consumers: " + switch("consumer", '\"$KCP_START_ON\"'))
        + text[wave.end():])
open(path, "w").write(text)
PY
echo "==> kcp migrate execute --dry-run" >&2
"$kcp" migrate execute --plan "$work/plan.yaml" --dry-run
echo "==> kcp migrate execute (the live clients keep working)" >&2
"$kcp" migrate execute --plan "$work/plan.yaml" --yes --no-progress
echo "==> kcp migrate status" >&2
"$kcp" migrate status --plan "$work/plan.yaml"

echo "==> checking the live clients: every record exactly once, per-key order" >&2
sleep 2
kill -TERM "$producer" && wait "$producer" || true
produced=$(wc -l <"$work/produced.jsonl")
for _ in $(seq 300); do
  [ "$(wc -l <"$work/consumed.jsonl")" -ge "$produced" ] && break
  sleep 0.1
done
kill -TERM "$consumer" && wait "$consumer" || true
"${live[@]}" check --produced "$work/produced.jsonl" --consumed "$work/consumed.jsonl"
echo "==> done: state in $KCP_STATE_FILE, reports in $work, assets in $work/assets, plan in $work/plan.yaml, run report in $work/plan.report.json" >&2
