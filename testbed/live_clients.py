"""A live producer and consumer that keep working while kcp migrates them.

    python testbed/live_clients.py produce --control F --source B --target B
        --topic T [--target-topic T2] --log LOG [--keys 20] [--rate 200] [--partitions P]
    python testbed/live_clients.py consume --control F --source B --target B
        --topic T --group G --log LOG
    python testbed/live_clients.py switch --control F --to source|paused|target
    python testbed/live_clients.py check --produced LOG --consumed LOG

Each client reads its control file (one word: `source`, `paused` or
`target`) between batches and moves when it changes: the producer flushes
(everything acknowledged) and reconnects, the consumer commits what it has
processed, leaves its group and rejoins on the other cluster from the
committed offsets. It then writes the word to `<control>.ack`. `switch`
changes the word and waits for the acknowledgement, so a kcp hook is just

    python testbed/live_clients.py switch --control consumer.ctl --to "$KCP_START_ON"

The producer writes per-key sequence numbers; both clients log every record
(JSON lines). `check` proves that every acknowledged record was consumed
exactly once and in per-key order (testbed/record_check.py), and measures
the pauses: the time between the last record acknowledged by the source
and the first by the target (producer), and between the last record
consumed from the source and the first from the target (consumer). Uses confluent-kafka (librdkafka).
"""

import argparse
import json
import os
import signal
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer
from record_check import load, sequences, verdict

STOP = False


def on_signal(_sig, _frame):
    global STOP
    STOP = True


def read_control(path):
    try:
        with open(path) as f:
            return f.read().strip() or "paused"
    except FileNotFoundError:
        return "paused"


def write_atomic(path, text):
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def bootstrap_for(args, where):
    return args.source if where == "source" else args.target


def topic_for(args, where):
    """The topic's name on that cluster (`--target-topic`: renamed there)."""
    return args.target_topic if where == "target" and args.target_topic else args.topic


def create_topic(args):
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": args.source})
    for future in admin.create_topics([NewTopic(args.topic, args.partitions)]).values():
        try:
            future.result(30)
        except KafkaException as e:
            if "already exists" not in str(e).lower():
                raise


def produce(args):
    if args.partitions:
        create_topic(args)
    log = open(args.log, "a", buffering=1)
    seq = {}
    state, producer = None, None
    where = {"cluster": None}
    errors = []

    def delivered(err, msg):
        if err is not None:
            errors.append(str(err))
            return
        key = msg.key().decode()
        s = int(msg.value().decode().split(":")[1])
        log.write(json.dumps({"k": key, "s": s, "c": where["cluster"], "t": time.time(),
                              "p": msg.partition(), "o": msg.offset()}) + "\n")

    interval = 1.0 / args.rate
    i = 0
    while not STOP:
        wanted = read_control(args.control)
        if wanted != state:
            if producer is not None:
                producer.flush(30)
                if len(producer) > 0:
                    print("records still unacknowledged after 30 s", file=sys.stderr)
                    return 1
                producer = None
            if wanted in ("source", "target"):
                producer = Producer({
                    "bootstrap.servers": bootstrap_for(args, wanted),
                    "enable.idempotence": True,
                    "acks": "all",
                    "linger.ms": 5,
                })
                where["cluster"] = wanted
            state = wanted
            write_atomic(args.control + ".ack", state)
        if producer is None:
            time.sleep(0.05)
            continue
        key = f"k{i % args.keys}"
        s = seq.get(key, 0)
        seq[key] = s + 1
        producer.produce(topic_for(args, state), key=key, value=f"{key}:{s}", on_delivery=delivered)
        producer.poll(0)
        i += 1
        if errors:
            print(f"delivery failed: {errors[0]}", file=sys.stderr)
            return 1
        time.sleep(interval)
    if producer is not None:
        producer.flush(30)
    return 1 if errors else 0


def consume(args):
    log = open(args.log, "a", buffering=1)
    state, consumer = None, None
    while not STOP:
        wanted = read_control(args.control)
        if wanted != state:
            if consumer is not None:
                consumer.close()  # commits nothing new: everything is committed below
                consumer = None
            if wanted in ("source", "target"):
                consumer = Consumer({
                    "bootstrap.servers": bootstrap_for(args, wanted),
                    "group.id": args.group,
                    "enable.auto.commit": False,
                    "auto.offset.reset": "earliest",
                    "session.timeout.ms": 6000,
                })
                consumer.subscribe([topic_for(args, wanted)])
            state = wanted
            write_atomic(args.control + ".ack", state)
        if consumer is None:
            time.sleep(0.05)
            continue
        batch = consumer.consume(num_messages=200, timeout=0.2)
        seen = False
        for msg in batch:
            if msg.error():
                continue
            key = msg.key().decode()
            s = int(msg.value().decode().split(":")[1])
            log.write(json.dumps({"k": key, "s": s, "c": state, "t": time.time(),
                                  "p": msg.partition(), "o": msg.offset()}) + "\n")
            seen = True
        if seen:
            try:
                consumer.commit(asynchronous=False)
            except KafkaException as e:
                print(f"commit failed: {e}", file=sys.stderr)
                return 1
    if consumer is not None:
        consumer.close()
    return 0


def switch(args):
    write_atomic(args.control, args.to)
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if read_control(args.control + ".ack") == args.to:
            return 0
        time.sleep(0.05)
    print(f"{args.control}: no acknowledgement of `{args.to}` within {args.timeout} s",
          file=sys.stderr)
    return 1


def pause(records, key="t"):
    """Seconds between the last record of the source and the first of the target."""
    last_source = max((r[key] for r in records if r["c"] == "source"), default=None)
    first_target = min((r[key] for r in records if r["c"] == "target"), default=None)
    if last_source is None or first_target is None:
        return None
    return round(first_target - last_source, 3)


def check(args):
    produced = load(args.produced)
    consumed = load(args.consumed)

    def by_cluster(records):
        return {c: sum(1 for r in records if r["c"] == c) for c in ("source", "target")}

    result = {
        **sequences(produced, consumed),
        "produced_to": by_cluster(produced),
        "consumed_from": by_cluster(consumed),
        "producer_pause_secs": pause(produced),
        "consumer_pause_secs": pause(consumed),
    }
    return verdict(result, ("lost", "duplicates", "out_of_order", "unknown"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("produce", "consume"):
        p = sub.add_parser(name)
        p.add_argument("--control", required=True)
        p.add_argument("--source", required=True, help="source bootstrap servers")
        p.add_argument("--target", required=True, help="target bootstrap servers")
        p.add_argument("--topic", required=True)
        p.add_argument("--target-topic", help="the topic's name on the target (default: --topic)")
        p.add_argument("--log", required=True)
        if name == "produce":
            p.add_argument("--keys", type=int, default=20)
            p.add_argument("--rate", type=float, default=200.0, help="records per second")
            p.add_argument("--partitions", type=int, default=0,
                           help="create the topic on the source with this many partitions first")
        else:
            p.add_argument("--group", required=True)
    p = sub.add_parser("switch")
    p.add_argument("--control", required=True)
    p.add_argument("--to", required=True, choices=["source", "paused", "target"])
    p.add_argument("--timeout", type=float, default=60.0)
    p = sub.add_parser("check")
    p.add_argument("--produced", required=True)
    p.add_argument("--consumed", required=True)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return {"produce": produce, "consume": consume, "switch": switch, "check": check}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
