#!/usr/bin/env bash
# Benchmark: the cost of `--metrics-addr` in instructions, not seconds.
#
#   bash benches/metrics_overhead.sh [RECORDS] [PAIRS]     (default 200000 1)
#
# Wall-clock and CPU-time comparisons on a loaded, shared machine drift by
# ±15 % between runs, far more than the 2 % to be shown. Instruction counts
# do not depend on the machine's load: this runs the release
# `kcp migrate replicate --until-caught-up` under `valgrind --tool=callgrind`
# and compares the instructions executed (Ir, every thread of the process)
# with the metrics listener off and on.
#
# Two one-broker Apache Kafka clusters (testbed/kafka.sh) on loopback. The
# source gets 2 x PAIRS topics `load_N` of 8 partitions with the same
# RECORDS records each (100 B values, record i to partition i mod 8, the
# same bytes in every topic). Each run copies its own topic under its own
# plan name (`mc-off-N`, `mc-on-N`: same lengths), so every run copies the
# same records to a fresh target topic: off, on, off, on, ...
# With the listener on, a scraper (curl) reads `/metrics` every second
# during the run, as Prometheus would, so serving it is counted too.
# It prints Ir per run, the on/off ratio, instructions per copied record,
# and, when the ratio is not below 1.02, the functions that differ most
# between the two profiles (callgrind_annotate). The profiles stay in the
# printed directory (KCP_BENCH_KEEP=1) or are removed on exit.
#
# Callgrind runs the process about 50x slower and one thread at a time, so
# timers (the 1 s metrics publication, librdkafka's poll loops) fire more
# often per record than in a normal run: both settings alike, which makes
# the ratio, if anything, an upper bound of the listener's share. Needs
# valgrind (Debian's `valgrind` package); fails if it is missing.
# KCP_BENCH_BIN=path runs that kcp binary instead of building the release one.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
records="${1:-200000}" pairs="${2:-1}"
partitions=8 value=100

die() { printf 'metrics_overhead.sh: %s\n' "$*" >&2; exit 1; }
for tool in valgrind callgrind_annotate curl; do
  command -v "$tool" >/dev/null || die "$tool is not installed: apt-get install valgrind curl"
done
valgrind --tool=callgrind --help >/dev/null 2>&1 || die "valgrind has no callgrind tool"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kcp/target}"
eval "$(bash testbed/install.sh 2>/dev/null)"
if [[ -n ${KCP_BENCH_BIN:-} ]]; then
  kcp="$KCP_BENCH_BIN" # a binary built already (e.g. to try the script with a debug build)
else
  cargo build --release --locked --quiet
  kcp="$CARGO_TARGET_DIR/release/kcp"
fi

work="$(mktemp -d)"
scraper=""
cleanup() {
  [[ -n $scraper ]] && kill "$scraper" 2>/dev/null || true
  bash testbed/kafka.sh stop "$work/source" 2>/dev/null || true
  bash testbed/kafka.sh stop "$work/target" 2>/dev/null || true
  [[ -n ${KCP_BENCH_KEEP:-} ]] || rm -rf "$work"
}
trap cleanup EXIT

echo "==> starting two Kafka clusters" >&2
source_bs="$(bash testbed/kafka.sh start "$work/source" --name source | sed -n 's/^KAFKA_BOOTSTRAP=//p')"
target_bs="$(bash testbed/kafka.sh start "$work/target" --name target | sed -n 's/^KAFKA_BOOTSTRAP=//p')"
kafka_version="$(sed -n 's/^KAFKA_VERSION=//p' "$work/source/cluster.env")"

topics=$((2 * pairs))
echo "==> loading $topics topics x $records records of $value B over $partitions partitions" >&2
"$KCP_TESTBED_PYTHON" - "$source_bs" "$topics" "$records" "$partitions" "$value" <<'PY'
import sys
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

bootstrap, topics, records, partitions, value = sys.argv[1], *map(int, sys.argv[2:])
names = [f"load_{n + 1}" for n in range(topics)]
admin = AdminClient({"bootstrap.servers": bootstrap})
for f in admin.create_topics([NewTopic(t, partitions, 1) for t in names]).values():
    f.result()
producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "enable.idempotence": True})
for t in names:
    for i in range(records):
        v = (f"{i:012d}" * (value // 12 + 1))[:value].encode()
        while True:
            try:
                producer.produce(t, v, key=str(i).encode(), partition=i % partitions)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    if producer.flush(60) != 0:
        sys.exit(f"records for {t} were not delivered")
PY

# run NAME TOPIC [METRICS_ADDR]: one callgrind run; appends "NAME IR SECONDS
# SCRAPES" to $work/results.
run() {
  local name="$1" topic="$2" addr="${3:-}" dir="$work/$1"
  mkdir -p "$dir"
  cat >"$dir/credentials.yaml" <<YAML
clusters:
  - name: src
    bootstrap_servers: ["$source_bs"]
    auth: { method: plaintext }
  - name: dst
    bootstrap_servers: ["$target_bs"]
    auth: { method: plaintext }
YAML
  printf 'version: 1\nname: %s\ncredentials_file: credentials.yaml\nsource: src\ntarget: dst\ntopics: { include: %s }\n' \
    "$name" "$topic" >"$dir/plan.yaml"
  local metrics=()
  if [[ -n $addr ]]; then
    metrics=(--metrics-addr "$addr")
    (
      while [[ ! -e $dir/done ]] && sleep 1; do
        curl -sf "http://$addr/metrics" >/dev/null && echo x >>"$dir/scrapes" || true
      done
    ) &
    scraper=$!
  fi
  local started=$SECONDS
  valgrind --tool=callgrind --callgrind-out-file="$dir/callgrind.out" --log-file="$dir/valgrind.log" \
    "$kcp" migrate replicate --until-caught-up --no-progress -q --output json --plan "$dir/plan.yaml" \
    "${metrics[@]}" >"$dir/stdout.json" 2>"$dir/stderr.log" ||
    { cat "$dir/stderr.log" "$dir/valgrind.log" >&2; die "$name: the replicator failed"; }
  if [[ -n $scraper ]]; then
    touch "$dir/done"
    kill "$scraper" 2>/dev/null || true
    wait "$scraper" 2>/dev/null || true
    scraper=""
    [[ -s $dir/scrapes ]] || die "$name: the scraper never read /metrics"
  fi
  local ir scrapes=0
  ir="$(sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$dir/callgrind.out")"
  [[ -n $ir ]] || die "$name: no totals in $dir/callgrind.out"
  [[ -f $dir/scrapes ]] && scrapes="$(wc -l <"$dir/scrapes")"
  echo "$name $ir $((SECONDS - started)) $scrapes" >>"$work/results"
}

for ((p = 1; p <= pairs; p++)); do
  echo "==> pair $p: listener off (callgrind, a few minutes)" >&2
  run "mc-off-$p" "load_$((2 * p - 1))"
  port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  echo "==> pair $p: listener on, scraped every second" >&2
  run "mc-on-$p" "load_$((2 * p))" "127.0.0.1:$port"
done
mapfile -t results <"$work/results"

echo "$("$kcp" --version), $(valgrind --version) --tool=callgrind, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
"$KCP_TESTBED_PYTHON" - "$records" "$partitions" "$value" "$kafka_version" "$work" "${results[@]}" <<'PY'
import json, sys
records, partitions, value, version, work = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
runs = [line.split() for line in sys.argv[6:]]

def copied(name):
    """Records the run reports copied: its summary's `copied`."""
    best = 0
    for line in open(f"{work}/{name}/stdout.json"):
        try:
            v = json.loads(line)
        except ValueError:
            continue
        c = v.get("summary", {}).get("copied") if isinstance(v, dict) else None
        if isinstance(c, int):
            best = max(best, c)
    return best

print(f"{records} records of {value} B over {partitions} partitions per run, Apache Kafka {version} on loopback")
off, on = [], []
for name, ir, secs, scrapes in runs:
    n = copied(name)
    if n != records:
        sys.exit(f"{name} copied {n} records, not {records}")
    (on if "-on-" in name else off).append(int(ir))
    extra = f", {scrapes} scrapes" if "-on-" in name else ""
    print(f"{name:9} Ir {int(ir):>15,}  {int(ir) / n:>9,.0f} per record  ({secs} s under callgrind{extra})")
ratio = (sum(on) / len(on)) / (sum(off) / len(off))
print(f"metrics on / off, instructions: {ratio:.4f} ({(ratio - 1) * 100:+.2f} %)")
PY

# The metrics path's own instructions in each run with the listener on,
# read from its profile (inclusive Ir, so independent of the run-to-run drift
# of the totals): serving the scrapes, the per-record health note and the
# once-a-second publication.
for r in "${results[@]}"; do
  read -r name ir _ <<<"$r"
  [[ $name == mc-on-* ]] || continue
  callgrind_annotate --inclusive=yes --threshold=100 "$work/$name/callgrind.out" 2>/dev/null |
    "$KCP_TESTBED_PYTHON" -c '
import re, sys
name, total = sys.argv[1], int(sys.argv[2])
parts = {"serving /metrics (kcp::telemetry::server::accept)": r"kcp::telemetry::server::accept\b",
         "health notes (Health::answered)": r"kcp::telemetry::health::Health::answered\b",
         "publication (replicator::stats::publish)": r"kcp::replicator::stats::publish\b"}
found = dict.fromkeys(parts, 0)
for line in sys.stdin:
    m = re.match(r"\s*([\d,]+) \(", line)
    if not m:
        continue
    for k, pat in parts.items():
        if re.search(pat, line):
            found[k] = max(found[k], int(m.group(1).replace(",", "")))
for k, v in found.items():
    print(f"{name}: {k}: {v:,} Ir")
s = sum(found.values())
print(f"{name}: metrics path in all: {s:,} Ir = {s / total * 100:.3f} % of the run")
' "$name" "$ir"
done

ratio_ok="$("$KCP_TESTBED_PYTHON" - "${results[@]}" <<'PY'
import sys
off = [int(r.split()[1]) for r in sys.argv[1:] if "-off-" in r]
on = [int(r.split()[1]) for r in sys.argv[1:] if "-on-" in r]
print("yes" if sum(on) / len(on) < 1.02 * sum(off) / len(off) else "no")
PY
)"
if [[ $ratio_ok != yes ]]; then
  echo "==> not clearly below 1.02: the metrics path in mc-on-1, inclusive Ir, top 15" >&2
  callgrind_annotate --inclusive=yes --threshold=100 "$work/mc-on-1/callgrind.out" 2>/dev/null |
    grep -E 'kcp::telemetry|prometheus|hyper::' | head -15
fi
[[ -z ${KCP_BENCH_KEEP:-} ]] || echo "profiles kept in $work" >&2
