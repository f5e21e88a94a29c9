#!/usr/bin/env bash
# Benchmark: instructions per copied record, kcp against the plain
# librdkafka copy loop of `cargo bench --bench compare`.
#
#   bash benches/copy_instructions.sh [RECORDS_100B] [RECORDS_1K] [REPS]
#                                     (default 200000 100000 1)
#
# Wall-clock ratios on the shared 2-core machine move by ±15 % with the
# other agents' load; instruction counts do not. This runs, under
# `valgrind --tool=callgrind`, the plain copy loop (the compare bench's own
# child process, `KCP_COMPARE_CHILD=plain`) and the release
# `kcp migrate replicate --until-caught-up --no-progress` on the same
# records, for two record shapes, and prints the instructions (Ir, every
# thread of the process) per copied record and the ratio kcp / plain.
#
# Two one-broker Apache Kafka clusters (testbed/kafka.sh) on loopback. The
# source gets, per shape and repetition, two topics with the same records
# (one for each copier, so each copies to a fresh target topic): the
# compare bench's workload, 8 partitions, a 10-byte key, three small
# headers (app, seq, trace) and a 100-byte or 1 KiB value that starts with
# a unique id (the rest: xorshift characters, as incompressible as the
# bench's). The plain loop's target topic is created beforehand (it does
# not create it), kcp creates its own, as in the compare bench.
#
# Both totals include start-up and the final flush (kcp's start-up is
# larger: metadata, the lease, the target topics, the offset maps), and
# timers fire more often per record under callgrind (it runs the process
# some 50x slower, one thread at a time), so read the per-record figures
# as "per record, start-up amortized over RECORDS". KCP_BENCH_KEEP=1 keeps
# the profiles (callgrind_annotate them); KCP_BENCH_BIN=path runs that kcp
# binary; KCP_BENCH_PLAIN=path that compare bench binary;
# KCP_BENCH_COPIERS="kcp" (default "plain kcp") runs only those copiers;
# with KCP_BENCH_BEFORE=path (another kcp binary, e.g. the one before a
# change) the copier `before` runs it on the same clusters:
# KCP_BENCH_COPIERS="plain before kcp".
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
records_small="${1:-200000}" records_1k="${2:-100000}" reps="${3:-1}"
copiers="${KCP_BENCH_COPIERS:-plain kcp}"
partitions=8

die() { printf 'copy_instructions.sh: %s\n' "$*" >&2; exit 1; }
command -v valgrind >/dev/null || die "valgrind is not installed: apt-get install valgrind"
valgrind --tool=callgrind --help >/dev/null 2>&1 || die "valgrind has no callgrind tool"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kcp/target}"
eval "$(bash testbed/install.sh 2>/dev/null)"
if [[ -n ${KCP_BENCH_BIN:-} ]]; then
  kcp="$KCP_BENCH_BIN"
else
  cargo build --release --locked --quiet
  kcp="$CARGO_TARGET_DIR/release/kcp"
fi
if [[ -n ${KCP_BENCH_PLAIN:-} || $copiers != *plain* ]]; then
  plain="${KCP_BENCH_PLAIN:-}"
else
  plain="$(cargo bench --locked --bench compare --no-run 2>&1 | sed -n 's/.*Executable .*(\(.*\)).*/\1/p' | tail -1)"
  [[ -x $plain ]] || die "cannot find the compare bench binary (cargo bench --bench compare --no-run)"
fi

work="$(mktemp -d)"
cleanup() {
  bash testbed/kafka.sh stop "$work/source" 2>/dev/null || true
  bash testbed/kafka.sh stop "$work/target" 2>/dev/null || true
  [[ -n ${KCP_BENCH_KEEP:-} ]] || rm -rf "$work"
}
trap cleanup EXIT

echo "==> starting two Kafka clusters" >&2
source_bs="$(bash testbed/kafka.sh start "$work/source" --name source | sed -n 's/^KAFKA_BOOTSTRAP=//p')"
target_bs="$(bash testbed/kafka.sh start "$work/target" --name target | sed -n 's/^KAFKA_BOOTSTRAP=//p')"
kafka_version="$(sed -n 's/^KAFKA_VERSION=//p' "$work/source/cluster.env")"

# Topics: <copier>_<shape>_<rep>, e.g. plain_100_1 and kcp_1024_1.
topics=()
for ((r = 1; r <= reps; r++)); do
  for shape in 100 1024; do
    for c in $copiers; do
      topics+=("${c}_${shape}_$r")
    done
  done
done
echo "==> loading ${#topics[@]} topics ($records_small x 100 B, $records_1k x 1 KiB) over $partitions partitions" >&2
"$KCP_TESTBED_PYTHON" - "$source_bs" "$target_bs" "$records_small" "$records_1k" "$partitions" "${topics[@]}" <<'PY'
import sys
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

source, target, small, big, partitions = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
topics = sys.argv[6:]
M = (1 << 64) - 1

def value(tag, i, size):
    """The compare bench's value_for: `<tag>:<i>;` then xorshift characters."""
    v = bytearray(f"{tag}:{i};".encode())
    x = ((i * 0x9E3779B97F4A7C15) & M) | 1
    while len(v) < size:
        x ^= (x << 13) & M
        x ^= x >> 7
        x ^= (x << 17) & M
        v.append(48 + x % 64)
    return bytes(v)

source_admin = AdminClient({"bootstrap.servers": source})
for f in source_admin.create_topics([NewTopic(t, partitions, 1) for t in topics]).values():
    f.result()
# The plain loop writes to a topic of the same name that must exist.
plain = [NewTopic(t, partitions, 1) for t in topics if t.startswith("plain_")]
if plain:
    target_admin = AdminClient({"bootstrap.servers": target})
    for f in target_admin.create_topics(plain).values():
        f.result()
producer = Producer({"bootstrap.servers": source, "linger.ms": 20, "enable.idempotence": True,
                     "compression.type": "lz4"})
cache = {}
for t in topics:
    size = int(t.split("_")[1])
    n = small if size == 100 else big
    for i in range(n):
        key = (size, i)
        if key not in cache:
            cache[key] = value("r", i, size)
        headers = [("app", b"bench"), ("seq", str(i).encode()),
                   ("trace", f"{(i * 0x2545F4914F6CDD1D) & M:016x}".encode())]
        while True:
            try:
                producer.produce(t, cache[key], key=f"k{i:09}".encode(), partition=i % partitions,
                                 headers=headers)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    if producer.flush(120) != 0:
        sys.exit(f"records for {t} were not delivered")
PY

# run TOPIC: one callgrind run of the copier the topic is named for;
# appends "TOPIC IR SECONDS" to $work/results.
run() {
  local topic="$1" dir="$work/$1" shape copier n
  copier="${topic%%_*}" shape="$(cut -d_ -f2 <<<"$topic")"
  n=$([[ $shape == 100 ]] && echo "$records_small" || echo "$records_1k")
  mkdir -p "$dir"
  local vg=(valgrind --tool=callgrind --callgrind-out-file="$dir/callgrind.out" --log-file="$dir/valgrind.log")
  local started=$SECONDS
  if [[ $copier == plain ]]; then
    KCP_COMPARE_CHILD=plain KCP_COMPARE_SOURCE="$source_bs" KCP_COMPARE_TARGET="$target_bs" \
      KCP_COMPARE_TOPIC="$topic" KCP_COMPARE_N="$n" "${vg[@]}" "$plain" >"$dir/stdout" 2>"$dir/stderr.log" ||
      { cat "$dir/stderr.log" "$dir/valgrind.log" >&2; die "$topic: the plain loop failed"; }
    echo "{\"summary\": {\"copied\": $n}}" >"$dir/stdout"
  else
    local bin="$kcp"
    if [[ $copier == before ]]; then
      bin="${KCP_BENCH_BEFORE:?the copier before needs KCP_BENCH_BEFORE}"
    fi
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
      "ci-$topic" "$topic" >"$dir/plan.yaml"
    "${vg[@]}" "$bin" migrate replicate --until-caught-up --no-progress -q --output json \
      --plan "$dir/plan.yaml" >"$dir/stdout" 2>"$dir/stderr.log" ||
      { cat "$dir/stderr.log" "$dir/valgrind.log" >&2; die "$topic: the replicator failed"; }
  fi
  local ir
  ir="$(sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$dir/callgrind.out")"
  [[ -n $ir ]] || die "$topic: no totals in $dir/callgrind.out"
  echo "$topic $ir $((SECONDS - started)) $n" >>"$work/results"
}

for t in "${topics[@]}"; do
  echo "==> $t under callgrind" >&2
  run "$t"
done
mapfile -t results <"$work/results"

echo "$("$kcp" --version), $(valgrind --version) --tool=callgrind, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
"$KCP_TESTBED_PYTHON" - "$partitions" "$kafka_version" "$work" "${results[@]}" <<'PY'
import json, sys
from collections import defaultdict
partitions, version, work = int(sys.argv[1]), sys.argv[2], sys.argv[3]
runs = [line.split() for line in sys.argv[4:]]

def copied(topic):
    best = 0
    for line in open(f"{work}/{topic}/stdout"):
        try:
            v = json.loads(line)
        except ValueError:
            continue
        c = v.get("summary", {}).get("copied") if isinstance(v, dict) else None
        if isinstance(c, int):
            best = max(best, c)
    return best

print(f"{partitions} partitions, 10 B keys, 3 headers; Apache Kafka {version} on loopback")
per = defaultdict(list)
for topic, ir, secs, n in runs:
    got = copied(topic)
    if got != int(n):
        sys.exit(f"{topic} copied {got} records, not {n}")
    copier, shape, _ = topic.split("_")
    per[(copier, shape)].append(int(ir) / got)
    print(f"{topic:13} {got:>8,} records  Ir {int(ir):>15,}  {int(ir) / got:>9,.0f} per record  ({secs} s)")
mean = lambda xs: sum(xs) / len(xs)
for shape in ("100", "1024"):
    p, b, k = (per.get((c, shape)) for c in ("plain", "before", "kcp"))
    line = [f"{shape:>4} B values, Ir per record (mean):"]
    line += [f"{c} {mean(v):,.0f}" for c, v in (("plain", p), ("before", b), ("kcp", k)) if v]
    if p and k:
        line.append(f"kcp / plain {mean(k) / mean(p):.3f}")
    if b and k:
        line.append(f"kcp / before {mean(k) / mean(b):.3f}")
    print("  ".join(line))
PY
[[ -z ${KCP_BENCH_KEEP:-} ]] || echo "profiles kept in $work" >&2
