#!/usr/bin/env bash
# The main job end to end on local defaults: start two local Kafka-compatible
# clusters (Tansu), load sample data into the first and keep a live producer
# and consumer (testbed/live_clients.py, librdkafka) working on it; scan it
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
free_port() { "$KCP_TESTBED_PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
brokers=()
trap 'kill "${brokers[@]}" 2>/dev/null || true' EXIT
# start_broker NAME PORT: a Tansu broker with its own SQLite database.
start_broker() {
  mkdir -p "$work/$1"
  (cd "$work/$1" && exec "$KCP_TANSU_BIN" broker --listener-url "tcp://127.0.0.1:$2" \
    --advertised-listener-url "tcp://127.0.0.1:$2" --storage-engine sqlite://tansu.db \
    --cluster-id "$1") >"$work/$1/tansu.log" 2>&1 &
  brokers+=($!)
  for _ in $(seq 100); do
    (echo >"/dev/tcp/127.0.0.1/$2") 2>/dev/null && break
    sleep 0.1
  done
}
port="$(free_port)"
target_port="$(free_port)"
echo "==> starting two local clusters (Tansu, SQLite storage): 127.0.0.1:$port and 127.0.0.1:$target_port" >&2
start_broker local "$port"
start_broker target "$target_port"

echo "==> loading sample data" >&2
"$KCP_TESTBED_PYTHON" testbed/sample_data.py "127.0.0.1:$port"

echo "==> starting a live producer and consumer on topic live-orders (group live-billing)" >&2
live=("$KCP_TESTBED_PYTHON" "$repo/testbed/live_clients.py")
echo source >"$work/producer.ctl"
echo source >"$work/consumer.ctl"
"${live[@]}" produce --control "$work/producer.ctl" --source "127.0.0.1:$port" \
  --target "127.0.0.1:$target_port" --topic live-orders --partitions 3 --rate 200 \
  --log "$work/produced.jsonl" 2>"$work/producer.err" &
brokers+=($!)
producer=$!
sleep 2
"${live[@]}" consume --control "$work/consumer.ctl" --source "127.0.0.1:$port" \
  --target "127.0.0.1:$target_port" --topic live-orders --group live-billing \
  --log "$work/consumed.jsonl" 2>"$work/consumer.err" &
brokers+=($!)
consumer=$!
sleep 3

cat >"$work/credentials.yaml" <<YAML
clusters:
  - name: local
    bootstrap_servers: ["127.0.0.1:$port"]
    auth: { method: plaintext }
  - name: target
    bootstrap_servers: ["127.0.0.1:$target_port"]
    auth: { method: plaintext }
YAML

export KCP_STATE_FILE="$work/kcp-state.json"
echo "==> kcp scan clusters" >&2
"$kcp" scan clusters --credentials-file "$work/credentials.yaml" --cluster local --rate-window 2
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
"$kcp" migrate init --source local --target target --credentials-file "$work/credentials.yaml" --plan-out "$work/plan.yaml"
echo "==> adding hooks that move the live clients, shorter waits for the demo" >&2
"$KCP_TESTBED_PYTHON" - "$work/plan.yaml" "${live[*]}" "$work" <<'PY'
import re, sys
path, live, work = sys.argv[1:]
text = open(path).read()
switch = lambda role, to: f"'{live} switch --control {work}/{role}.ctl --to {to}'"
text = text.replace("lag_sustain_secs: 30", "lag_sustain_secs: 5")
text = text.replace("producer_quiet_secs: 10", "producer_quiet_secs: 3")
text = text.replace("group_quiet_secs: 5", "group_quiet_secs: 3")
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
