#!/usr/bin/env bash
# The main job end to end on local defaults: start a local Kafka-compatible
# cluster (Tansu), load sample data, scan it with kcp into a state file,
# validate the state and write the migration-plan report. Everything lands in ./kcp-demo/ (override with
# KCP_DEMO_DIR); the broker is stopped on exit.
#
# As later commands land (report, create-asset, migrate), they join here.
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
port="$("$KCP_TESTBED_PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"

echo "==> starting a local cluster (Tansu, SQLite storage) on 127.0.0.1:$port" >&2
(cd "$work" && exec "$KCP_TANSU_BIN" broker --listener-url "tcp://127.0.0.1:$port" \
  --advertised-listener-url "tcp://127.0.0.1:$port" --storage-engine sqlite://tansu.db) >"$work/tansu.log" 2>&1 &
broker=$!
trap 'kill "$broker" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done

echo "==> loading sample data" >&2
"$KCP_TESTBED_PYTHON" testbed/sample_data.py "127.0.0.1:$port"

cat >"$work/credentials.yaml" <<YAML
clusters:
  - name: local
    bootstrap_servers: ["127.0.0.1:$port"]
    auth: { method: plaintext }
YAML

export KCP_STATE_FILE="$work/kcp-state.json"
echo "==> kcp scan clusters" >&2
"$kcp" scan clusters --credentials-file "$work/credentials.yaml" --rate-window 2
echo "==> kcp state validate" >&2
"$kcp" state validate
echo "==> kcp report plan (Markdown on stdout, HTML and CSV in $work)" >&2
"$kcp" report plan --source local --target confluent-cloud
"$kcp" report plan --source local --target confluent-cloud --format html --out "$work/plan.html"
"$kcp" report plan --source local --target confluent-cloud --format csv --out "$work/plan.csv"
echo "==> done: state in $KCP_STATE_FILE, reports in $work" >&2
