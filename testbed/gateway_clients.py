"""A producer and a consumer whose configuration never changes: they know
only the gateway's address, and `kcp gateway` moves them between clusters.

    python testbed/gateway_clients.py produce --bootstrap B --topic T --log LOG
        [--client-id ID] [--keys 20] [--rate 200] [--transactional-id ID]
    python testbed/gateway_clients.py consume --bootstrap B --topic T --group G
        --log LOG [--client-id ID] [--group-protocol classic|consumer]
    python testbed/gateway_clients.py check --produced LOG --consumed LOG

The producer (idempotent, acks=all) writes per-key sequence numbers; both
clients log every record (JSON lines: key, sequence, time, partition,
offset) and every error librdkafka reports to the application (`{"error":
...}` lines: delivery failures, consumer errors, the error callback's
fatal ones). The consumer commits synchronously after each batch. `check`
counts lost records (acknowledged, never consumed), duplicates, per-key
order violations (testbed/record_check.py) and errors, and measures each
client's longest pause: the largest gap between two consecutive
acknowledged (producer) or consumed (consumer) records. Uses confluent-kafka (librdkafka).
testbed/gateway-java/GatewayClients.java is the Java client's twin: it
writes the same log, which `check` checks the same way.
"""

import argparse
import json
import signal
import sys
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from record_check import load, sequences, verdict

STOP = False


def on_signal(_sig, _frame):
    global STOP
    STOP = True


def error_logger(log):
    def on_error(err):
        # Transport errors (a connection closed by the gateway) are logged
        # by librdkafka and retried; only fatal ones reach an application.
        if err.fatal():
            log.write(json.dumps({"error": str(err), "t": time.time()}) + "\n")
    return on_error


def produce(args):
    log = open(args.log, "a", buffering=1)
    seq = {}

    def delivered(err, msg):
        if err is not None:
            log.write(json.dumps({"error": str(err), "t": time.time()}) + "\n")
            return
        key = msg.key().decode()
        s = int(msg.value().decode().split(":")[1])
        log.write(json.dumps({"k": key, "s": s, "t": time.time(),
                              "p": msg.partition(), "o": msg.offset()}) + "\n")

    config = {
        "bootstrap.servers": args.bootstrap,
        "client.id": args.client_id,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "error_cb": error_logger(log),
    }
    if args.transactional_id:
        return produce_in_transactions(args, config, log)
    producer = Producer(config)
    interval = 1.0 / args.rate
    i = 0
    while not STOP:
        key = f"k{i % args.keys}"
        s = seq.get(key, 0)
        seq[key] = s + 1
        while True:
            try:
                producer.produce(args.topic, key=key, value=f"{key}:{s}", on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
        i += 1
        time.sleep(interval)
    producer.flush(30)
    return 0 if len(producer) == 0 else 1


def produce_in_transactions(args, config, log):
    """Like `produce`, in transactions of about 100 ms each. A record
    counts as acknowledged when its transaction commits (all of its records
    then log the commit's time). A transaction that fails is aborted and its
    records sent again with the same sequence numbers; a producer that
    fails for good is replaced, as an application would. Every such error
    is logged: it reached the application."""
    config = {**config, "transactional.id": args.transactional_id}

    def start():
        p = Producer(config)
        p.init_transactions(60)
        return p

    def failed(what, e):
        log.write(json.dumps({"error": f"{what}: {e}", "t": time.time()}) + "\n")

    producer = start()
    seq = {}
    interval = 1.0 / args.rate
    i = 0
    while not STOP:
        sent, acked, next_seq, first = [], [], dict(seq), i
        try:
            producer.begin_transaction()
            until = time.time() + 0.1
            while time.time() < until:
                key = f"k{i % args.keys}"
                s = next_seq.get(key, 0)
                next_seq[key] = s + 1
                producer.produce(args.topic, key=key, value=f"{key}:{s}",
                                 on_delivery=lambda err, msg: acked.append((err, msg)))
                sent.append(key)
                producer.poll(0)
                i += 1
                time.sleep(interval)
            producer.commit_transaction(60)
        except KafkaException as e:
            err = e.args[0]
            failed("transaction", err)
            i = first
            try:
                if err.txn_requires_abort():
                    producer.abort_transaction(60)
                    continue
            except KafkaException as again:
                failed("abort", again.args[0])
            producer = start()
            continue
        now = time.time()
        for err, msg in acked:
            if err is None:
                key = msg.key().decode()
                s = int(msg.value().decode().split(":")[1])
                log.write(json.dumps({"k": key, "s": s, "t": now,
                                      "p": msg.partition(), "o": msg.offset()}) + "\n")
        seq = next_seq
    return 0


def consume(args):
    log = open(args.log, "a", buffering=1)
    consumer = Consumer({
        "bootstrap.servers": args.bootstrap,
        "client.id": args.client_id,
        "group.id": args.group,
        "group.protocol": args.group_protocol,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "error_cb": error_logger(log),
    })
    consumer.subscribe([args.topic])
    while not STOP:
        batch = consumer.consume(num_messages=200, timeout=0.2)
        seen = False
        for msg in batch:
            if msg.error():
                if msg.error().code() != KafkaError._PARTITION_EOF:
                    log.write(json.dumps({"error": str(msg.error()), "t": time.time()}) + "\n")
                continue
            key = msg.key().decode()
            s = int(msg.value().decode().split(":")[1])
            log.write(json.dumps({"k": key, "s": s, "t": time.time(),
                                  "p": msg.partition(), "o": msg.offset()}) + "\n")
            seen = True
        if seen:
            try:
                consumer.commit(asynchronous=False)
            except Exception as e:  # noqa: BLE001 - logged as an application error
                log.write(json.dumps({"error": f"commit: {e}", "t": time.time()}) + "\n")
    consumer.close()
    return 0


def longest_gap(records):
    times = sorted(r["t"] for r in records)
    return round(max((b - a for a, b in zip(times, times[1:])), default=0.0), 3)


def check(args):
    produced_all = load(args.produced)
    consumed_all = load(args.consumed)
    produced = [r for r in produced_all if "error" not in r]
    consumed = [r for r in consumed_all if "error" not in r]
    errors = [r["error"] for r in produced_all + consumed_all if "error" in r]
    result = {
        **sequences(produced, consumed, reread_out_of_order=False),
        "errors": len(errors),
        "first_errors": errors[:5],
        "producer_longest_pause_secs": longest_gap(produced),
        "consumer_longest_pause_secs": longest_gap(consumed),
    }
    return verdict(result, ("lost", "out_of_order", "unknown", "errors"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("produce", "consume"):
        p = sub.add_parser(name)
        p.add_argument("--bootstrap", required=True, help="the gateway's address")
        p.add_argument("--topic", required=True)
        p.add_argument("--log", required=True)
        p.add_argument("--client-id", default=f"gateway-{name}")
        if name == "produce":
            p.add_argument("--keys", type=int, default=20)
            p.add_argument("--rate", type=float, default=200.0, help="records per second")
            p.add_argument("--transactional-id", help="produce in transactions with this id")
        else:
            p.add_argument("--group", required=True)
            p.add_argument("--group-protocol", default="classic",
                           help="classic (JoinGroup) or consumer (KIP-848)")
    p = sub.add_parser("check")
    p.add_argument("--produced", required=True)
    p.add_argument("--consumed", required=True)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return {"produce": produce, "consume": consume, "check": check}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
