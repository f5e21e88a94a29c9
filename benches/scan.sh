#!/usr/bin/env bash
# Benchmark: `kcp scan clusters` on a large cluster.
#
#   bash benches/scan.sh [TOPICS] [PARTITIONS] [GROUPS]     (default 1000 10 200)
#
# Starts an Apache Kafka broker (testbed/kafka.sh), creates TOPICS x PARTITIONS
# partitions with one record each and GROUPS consumer groups with committed
# offsets, then times a release build of `kcp scan clusters --rate-window 0`
# and prints the wall time against the 15 s target. Everything runs on this
# machine's loopback; the broker is stopped on exit.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
topics="${1:-1000}" partitions="${2:-10}" groups="${3:-200}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kcp/target}"
eval "$(bash testbed/install.sh)"
cargo build --release --locked --quiet
kcp="$CARGO_TARGET_DIR/release/kcp"

work="$(mktemp -d)"
trap 'bash testbed/kafka.sh stop "$work/kafka"; rm -rf "$work"' EXIT
# One Kafka 4.x broker; a larger heap than the tests' for 10,000 partitions.
bootstrap="$(KCP_KAFKA_HEAP=1g bash testbed/kafka.sh start "$work/kafka" --name bench | sed -n 's/^KAFKA_BOOTSTRAP=//p')"

echo "==> loading $topics topics x $partitions partitions, $groups groups" >&2
"$KCP_TESTBED_PYTHON" testbed/sample_data.py "$bootstrap" --topics "$topics" \
  --partitions "$partitions" --messages 1 --groups "$groups"

cat >"$work/creds.yaml" <<YAML
clusters:
  - name: bench
    bootstrap_servers: ["$bootstrap"]
    auth: { method: plaintext }
YAML

echo "==> kcp scan clusters" >&2
start=$(date +%s.%N)
"$kcp" scan clusters --credentials-file "$work/creds.yaml" --state-file "$work/state.json" \
  --rate-window 0 --timeout 60 --no-progress --output json >"$work/summary.json" 2>"$work/scan.err" || {
  cat "$work/scan.err" >&2; exit 1; }
end=$(date +%s.%N)
"$KCP_TESTBED_PYTHON" - "$start" "$end" "$work/summary.json" <<'PY'
import json, sys
start, end, path = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
s = json.load(open(path))["clusters"][0]
wall = end - start
print(f"scan: {s['topics']} topics, {s['partitions']} partitions, {s['consumer_groups']} groups, "
      f"{len(s['warnings'])} warnings")
print(f"wall time {wall:.2f} s; target 15 s; ratio to target {wall / 15:.2f}")
PY
