#!/usr/bin/env bash
# The main job end to end on local defaults: start two local Kafka-compatible
# clusters (Tansu), load sample data into the first, scan it with kcp into a
# state file, validate the state, write the migration-plan report, generate
# the target's assets, write the migration plan and copy every topic to the
# second cluster with the replicator. Everything lands in ./kcp-demo/
# (override with KCP_DEMO_DIR); the brokers are stopped on exit.
#
# As the cutover (`kcp migrate execute`) lands, it joins here.
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
echo "==> kcp migrate replicate --until-caught-up" >&2
"$kcp" migrate replicate --plan "$work/plan.yaml" --until-caught-up --no-progress
echo "==> kcp migrate status" >&2
"$kcp" migrate status --plan "$work/plan.yaml"
echo "==> done: state in $KCP_STATE_FILE, reports in $work, assets in $work/assets, plan in $work/plan.yaml" >&2
