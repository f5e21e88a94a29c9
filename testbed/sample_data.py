"""Loads sample data into a local cluster for the demo and the benchmarks.

    python testbed/sample_data.py BOOTSTRAP [--topics N] [--partitions P]
        [--messages M] [--groups G]

Creates topics of several kinds (application, compacted, Kafka Streams,
MirrorMaker 2, Connect), produces keyed records with headers to every
partition, and commits offsets for consumer groups so that they have lag.
Uses confluent-kafka (librdkafka 2.16) from the test bed's venv.
"""

import argparse
import sys
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bootstrap")
    parser.add_argument("--topics", type=int, default=0, help="extra application topics (bench)")
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--messages", type=int, default=20, help="records per partition")
    parser.add_argument("--groups", type=int, default=3)
    args = parser.parse_args()

    started = time.monotonic()
    admin = AdminClient({"bootstrap.servers": args.bootstrap})
    topics = {
        "orders": (args.partitions, {"retention.ms": "604800000"}),
        "customers": (2, {"cleanup.policy": "compact"}),
        "payments.settled": (args.partitions, {"min.insync.replicas": "1"}),
        "billing-KSTREAM-AGGREGATE-STATE-STORE-0000000003-changelog": (1, {"cleanup.policy": "compact"}),
        "mm2-offset-syncs.dc2.internal": (1, {}),
        "connect-offsets": (1, {"cleanup.policy": "compact"}),
    }
    for i in range(args.topics):
        topics[f"bench-{i:05d}"] = (args.partitions, {})
    new = [NewTopic(name, num_partitions=p, replication_factor=1, config=cfg) for name, (p, cfg) in topics.items()]
    for chunk in range(0, len(new), 200):
        for name, future in admin.create_topics(new[chunk:chunk + 200], request_timeout=60).items():
            try:
                future.result()
            except Exception as e:  # an existing topic is fine on a re-run
                if "TOPIC_ALREADY_EXISTS" not in str(e):
                    raise

    producer = Producer({"bootstrap.servers": args.bootstrap, "enable.idempotence": True, "linger.ms": 20})
    sent = 0
    for name, (partitions, _) in topics.items():
        for p in range(partitions):
            for i in range(args.messages):
                producer.produce(name, key=f"key-{i % 7}", value=f"{name} record {i}".encode(), partition=p,
                                 headers=[("source", b"kcp-demo"), ("seq", str(i).encode())])
                sent += 1
                if sent % 10000 == 0:
                    producer.poll(0)
    left = producer.flush(60)
    if left:
        print(f"error: {left} records not delivered", file=sys.stderr)
        return 1

    # Groups: each commits half of what is in its topics, so it has lag.
    names = list(topics)
    for g in range(args.groups):
        group = ["orders-processor", "billing-app", "audit"][g] if g < 3 else f"bench-group-{g:04d}"
        consumer = Consumer({"bootstrap.servers": args.bootstrap, "group.id": group, "enable.auto.commit": False})
        topic = names[g % len(names)]
        partitions, _ = topics[topic]
        offsets = [TopicPartition(topic, p, args.messages // 2) for p in range(partitions)]
        commit(consumer, offsets)
        consumer.close()

    print(f"loaded {len(topics)} topics, {sent} records, {args.groups} groups in {time.monotonic() - started:.1f}s",
          file=sys.stderr)
    return 0


# Errors a group coordinator answers while it is still loading or moving; a
# fresh cluster gives them for its first commits (seen in CI:
# COORDINATOR_LOAD_IN_PROGRESS).
COORDINATOR_NOT_READY = {
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError.NOT_COORDINATOR,
}


def commit(consumer: Consumer, offsets: list, timeout: float = 60.0) -> None:
    """Commits synchronously, retrying while the coordinator is not ready."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            consumer.commit(offsets=offsets, asynchronous=False)
            return
        except KafkaException as e:
            if e.args[0].code() not in COORDINATOR_NOT_READY or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


if __name__ == "__main__":
    sys.exit(main())
