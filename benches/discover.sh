#!/usr/bin/env bash
# Benchmark: `kcp discover` over a large MSK estate on moto.
#
#   bash benches/discover.sh [CLUSTERS_PER_REGION] [REGIONS]     (default 100 3)
#
# Starts moto (with the MSK timestamp fix) behind the CloudWatch CBOR shim,
# creates CLUSTERS_PER_REGION clusters in each region (one in ten
# serverless), a day of hourly datapoints for one cluster in ten (moto's
# GetMetricData scans every stored datapoint for every query, so more data
# measures moto rather than kcp) and canned Cost Explorer results, then times a release build of `kcp discover` over every region
# (1 h metrics over the default 365-day window) and prints the wall time
# and the number of AWS calls it made. Everything runs on loopback.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
per_region="${1:-100}" region_count="${2:-3}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kcp/target}"
eval "$(bash testbed/install.sh)"
cargo build --release --locked --quiet
kcp="$CARGO_TARGET_DIR/release/kcp"
py="$KCP_TESTBED_PYTHON"

work="$(mktemp -d)"
free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
moto_port="$(free_port)"
"$py" testbed/moto_tz_server.py -H 127.0.0.1 -p "$moto_port" >"$work/moto.log" 2>&1 &
moto=$!
shim=""
trap 'kill $moto $shim 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 200); do (echo >"/dev/tcp/127.0.0.1/$moto_port") 2>/dev/null && break; sleep 0.1; done
coproc SHIM { exec "$py" testbed/cw_cbor_shim.py 0 "http://127.0.0.1:$moto_port"; }
shim=$SHIM_PID
read -r ready shim_port <&"${SHIM[0]}"
[[ $ready == ready ]] || { echo "shim did not start" >&2; exit 1; }

all_regions=(us-east-1 eu-west-1 ap-southeast-2 us-west-2 eu-central-1)
regions=("${all_regions[@]:0:$region_count}")
serverless=$((per_region / 10)) provisioned=$((per_region - per_region / 10))
seed_args=() discover_args=()
for r in "${regions[@]}"; do
  seed_args+=(--region "$r:$provisioned:$serverless")
  discover_args+=(--region "$r")
done
discover_args+=(--metrics-granularity 1h --start "$(date -u -d '2 days ago' +%F)" --end "$(date -u -d tomorrow +%F)")
echo "==> seeding $((per_region * region_count)) clusters in ${regions[*]}" >&2
seed_start=$EPOCHREALTIME
"$py" testbed/moto_seed.py "http://127.0.0.1:$moto_port" "${seed_args[@]}" --hours 24 --metrics-every 10 --costs >/dev/null
echo "    seeded in $("$py" -c "print(round($EPOCHREALTIME - $seed_start, 1))") s" >&2

echo "==> kcp discover" >&2
export AWS_ENDPOINT_URL="http://127.0.0.1:$shim_port" AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
export AWS_EC2_METADATA_DISABLED=true AWS_MAX_ATTEMPTS=1
start=$EPOCHREALTIME
set +e
"$kcp" --state-file "$work/state.json" --output json --no-progress discover "${discover_args[@]}" \
  --credentials-out "$work/creds.yaml" >"$work/summary.json" 2>"$work/stderr.log"
code=$?
set -e
wall=$("$py" -c "print($EPOCHREALTIME - $start)")
[[ $code == 0 || $code == 3 ]] || { cat "$work/stderr.log" >&2; exit 1; }
"$py" - "$work/summary.json" "$wall" "$per_region" "$region_count" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
wall, per_region, regions = float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
clusters = len(s["clusters"])
assert clusters == per_region * regions, (clusters, per_region * regions)
print(f"discover: {clusters} clusters in {regions} regions: {wall:.1f} s wall, "
      f"{s['aws_calls']} AWS calls ({s['aws_calls'] / clusters:.1f} per cluster), "
      f"{s['aws_calls'] / wall:.0f} calls/s, {s['warnings']} warnings (calls moto does not implement)")
PY
