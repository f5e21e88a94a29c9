"""Regenerates the example states in this folder.

    python3 state-examples/generate.py

The examples are realistic but invented: an MSK estate in us-east-1 as
`kcp discover` + `kcp scan` record it, and a self-managed Apache Kafka
cluster as `kcp scan` records it. Values are deterministic (no randomness, no
clock), and the files are written exactly as kcp writes state files (key
order of the model, sorted lists, 2-space indentation, trailing newline), so
`kcp state validate` accepts them and a save leaves them unchanged (tested).
"""

import json
import math
import pathlib
from datetime import date, datetime, timedelta, timezone

HERE = pathlib.Path(__file__).parent
ACCOUNT = "123456789012"
REGION = "us-east-1"
DAYS = [date(2026, 11, 1) + timedelta(days=i) for i in range(14)]


def ts(d):
    return datetime(d.year, d.month, d.day, tzinfo=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def weekly(base, amplitude, day_index, phase=0.0):
    """A weekday/weekend pattern with a small deterministic wobble."""
    weekend = DAYS[day_index].weekday() >= 5
    wobble = math.sin(day_index * 1.7 + phase) * 0.04
    return round(base * (0.62 if weekend else 1.0) * (1 + wobble) + amplitude * math.cos(day_index + phase), 1)


def arn(name, uid):
    return f"arn:aws:kafka:{REGION}:{ACCOUNT}:cluster/{name}/{uid}"


def metric_query(cluster, metric, stat, period, unit_dims=None, topic=None):
    dims = [{"Name": "Cluster Name", "Value": cluster}]
    if topic:
        dims.append({"Name": "Topic", "Value": topic})
    queries = [{"Id": "m1", "MetricStat": {"Metric": {"Namespace": "AWS/Kafka", "MetricName": metric,
                                                        "Dimensions": dims}, "Period": period, "Stat": stat}}]
    return ("aws cloudwatch get-metric-data --region us-east-1 --start-time 2026-11-01T00:00:00Z "
            "--end-time 2026-11-15T00:00:00Z --metric-data-queries '" + json.dumps(queries, separators=(",", ":")) + "'")


def series(cluster, metric, stat, unit, base, amplitude, phase=0.0, topic=None):
    out = {"metric": metric, "statistic": stat, "period_seconds": 86400, "unit": unit}
    if topic:
        out["topic"] = topic
    out["points"] = [{"t": ts(d), "v": float(weekly(base, amplitude, i, phase))} for i, d in enumerate(DAYS)]
    out["query"] = metric_query(cluster, metric, stat, 86400, topic=topic)
    return out


def cost_rows():
    usage = [
        ("Amazon Managed Streaming for Apache Kafka", "USE1-Kafka.m5.2xlarge", 0.84 * 6 * 24),
        ("Amazon Managed Streaming for Apache Kafka", "USE1-Kafka.m5.large", 0.21 * 3 * 24),
        ("Amazon Managed Streaming for Apache Kafka", "USE1-Kafka.Storage.GP2", (6 * 1000 + 3 * 250) * 0.10 / 30),
        ("Amazon Managed Streaming for Apache Kafka", "USE1-Kafka.Serverless.ClusterHours", 0.75 * 24),
        ("Amazon Managed Streaming for Apache Kafka", "USE1-Kafka.Serverless.PartitionHours", 0.0015 * 120 * 24),
        ("EC2 - Other", "USE1-DataTransfer-Regional-Bytes", 18.4),
        ("Amazon Virtual Private Cloud", "USE1-VpcEndpoint-Hours", 0.01 * 6 * 24),
    ]
    rows = []
    for i, d in enumerate(DAYS):
        for service, usage_type, daily in usage:
            variable = "DataTransfer" in usage_type
            amount = round(daily * (0.7 if variable and d.weekday() >= 5 else 1.0) * (1 + 0.01 * (i % 3)), 4)
            metrics = {}
            for name in ["AmortizedCost", "BlendedCost", "NetAmortizedCost", "NetUnblendedCost", "UnblendedCost"]:
                factor = 0.93 if name.startswith("Net") else 1.0
                metrics[name] = {"amount": round(amount * factor, 4), "unit": "USD"}
            rows.append({"date": d.isoformat(), "service": service, "usage_type": usage_type, "metrics": metrics})
    rows.sort(key=lambda r: (r["date"], r["service"], r["usage_type"]))
    return rows


def cost_query():
    flt = {"And": [{"Dimensions": {"Key": "REGION", "Values": [REGION]}},
                   {"Dimensions": {"Key": "SERVICE", "Values": [
                       "Amazon Managed Streaming for Apache Kafka", "EC2 - Other", "Elastic Load Balancing",
                       "Amazon Virtual Private Cloud", "AWS Certificate Manager"]}}]}
    return ("aws ce get-cost-and-usage --time-period Start=2026-11-01,End=2026-11-15 --granularity DAILY "
            "--metrics AmortizedCost BlendedCost NetAmortizedCost NetUnblendedCost UnblendedCost "
            "--group-by Type=DIMENSION,Key=SERVICE Type=DIMENSION,Key=USAGE_TYPE --filter '"
            + json.dumps(flt, separators=(",", ":")) + "'")


def msk_cluster(name, uid, kind, state, created, version, brokers, instance, storage, azs, auth, servers,
                props=None, tags=None, metrics=None, warnings=None):
    c = {"name": name, "arn": arn(name, uid), "cluster_type": kind, "state": state, "created_at": created,
         "kafka_version": version, "broker_count": brokers, "instance_type": instance,
         "storage_gb_per_broker": storage, "availability_zones": sorted(azs), "auth": auth,
         "bootstrap_servers": {k: sorted(v) for k, v in sorted(servers.items())}}
    if props:
        c["server_properties"] = dict(sorted(props.items()))
    if tags:
        c["tags"] = dict(sorted(tags.items()))
    if metrics:
        c["metrics"] = sorted(metrics, key=lambda m: (m["metric"], m.get("topic") or "", m["statistic"]))
    if warnings:
        c["warnings"] = sorted(warnings, key=lambda w: (w["call"], w["code"], w["message"], w["hint"]))
    return c


def broker_hosts(prefix, port, count=3):
    return [f"b-{i}.{prefix}.kafka.us-east-1.amazonaws.com:{port}" for i in range(1, count + 1)]


def partitions(count, brokers, latest, earliest=0, sizes=None):
    out = []
    for p in range(count):
        replicas = [brokers[(p + r) % len(brokers)] for r in range(min(3, len(brokers)))]
        part = {"id": p, "leader": replicas[0], "replicas": replicas, "isr": sorted(replicas),
                "earliest_offset": earliest if isinstance(earliest, int) else earliest[p],
                "latest_offset": latest[p] if isinstance(latest, list) else latest}
        if sizes is not None:
            part["size_bytes"] = sizes[p]
        out.append(part)
    return out


def cfg(value, source, sensitive=False):
    return {"value": value, "source": source, "sensitive": sensitive}


def topic(kind, rf, parts, configs, rate=None):
    t = {"kind": kind, "replication_factor": rf, "partitions": parts, "configs": dict(sorted(configs.items()))}
    if rate is not None:
        t["rate"] = rate
    return t


def rate(mps):
    return {"messages_per_sec": float(mps), "window_secs": 10.0, "idle": mps == 0}


def acl(rtype, name, pattern, principal, op, perm="allow", host="*"):
    return {"resource_type": rtype, "resource_name": name, "pattern_type": pattern, "principal": principal,
            "host": host, "operation": op, "permission": perm}


ACL_ORDER = {
    "resource_type": ["topic", "group", "cluster", "transactional_id", "delegation_token", "user"],
    "pattern_type": ["literal", "prefixed"],
    "operation": ["all", "read", "write", "create", "delete", "alter", "describe", "cluster_action",
                  "describe_configs", "alter_configs", "idempotent_write", "create_tokens", "describe_tokens"],
    "permission": ["allow", "deny"],
}


def acl_key(a):
    return (ACL_ORDER["resource_type"].index(a["resource_type"]), a["resource_name"],
            ACL_ORDER["pattern_type"].index(a["pattern_type"]), a["principal"], a["host"],
            ACL_ORDER["operation"].index(a["operation"]), ACL_ORDER["permission"].index(a["permission"]))


def group(state, protocol, members, offsets, latest_of):
    offs = []
    for t, p, committed in sorted(offsets):
        offs.append({"topic": t, "partition": p, "committed": committed, "lag": latest_of[(t, p)] - committed})
    g = {"state": state, "protocol_type": "consumer" if protocol else None, "protocol": protocol,
         "members": sorted(members, key=lambda m: m["member_id"]), "offsets": offs}
    return g


def member(member_id, client_id, host, assignments):
    return {"member_id": member_id, "client_id": client_id, "host": host,
            "assignments": [{"topic": t, "partition": p} for t, p in sorted(assignments)]}


def latest_index(cluster):
    return {(name, p["id"]): p["latest_offset"] for name, t in cluster["topics"].items() for p in t["partitions"]}


def self_managed():
    brokers = [1, 2, 3]
    orders_latest = [184_220_113 + 1_137 * p for p in range(12)]
    topics = {
        "orders": topic("user", 3, partitions(12, brokers, orders_latest, [120_004_931 + 991 * p for p in range(12)],
                                              [4_831_222_784 + 7_340_032 * p for p in range(12)]), {
            "cleanup.policy": cfg("delete", "dynamic_topic"), "retention.ms": cfg("604800000", "dynamic_topic"),
            "min.insync.replicas": cfg("2", "static_broker"), "compression.type": cfg("producer", "default"),
            "max.message.bytes": cfg("1048588", "default")}, rate(1840.3)),
        "customers": topic("user", 3, partitions(6, brokers, [2_004_117 + 31 * p for p in range(6)]), {
            "cleanup.policy": cfg("compact", "dynamic_topic"), "min.compaction.lag.ms": cfg("3600000", "dynamic_topic"),
            "min.insync.replicas": cfg("2", "static_broker")}, rate(12.6)),
        "payments.settled": topic("user", 3, partitions(6, brokers, [9_118_200 + 17 * p for p in range(6)],
                                                        [8_001_000 + 3 * p for p in range(6)]), {
            "cleanup.policy": cfg("delete", "default"), "retention.ms": cfg("2592000000", "dynamic_topic"),
            "min.insync.replicas": cfg("2", "static_broker")}, rate(95.0)),
        "documents.scanned": topic("user", 3, partitions(3, brokers, [88_412, 88_390, 88_455]), {
            "max.message.bytes": cfg("5242880", "dynamic_topic"), "cleanup.policy": cfg("delete", "default")},
            rate(0.8)),
        "legacy.audit-2019": topic("user", 3, partitions(3, brokers, [41_002, 40_877, 41_100], [41_002, 40_877, 41_100]), {
            "retention.ms": cfg("-1", "dynamic_topic")}, rate(0)),
        "__consumer_offsets": topic("internal", 3, partitions(50, brokers, [1_000 + 13 * p for p in range(50)]), {
            "cleanup.policy": cfg("compact", "dynamic_topic"), "segment.bytes": cfg("104857600", "dynamic_topic")}),
        "__transaction_state": topic("internal", 3, partitions(50, brokers, [0] * 50), {
            "cleanup.policy": cfg("compact", "dynamic_topic"), "min.insync.replicas": cfg("2", "dynamic_topic")}),
        "mm2-offset-syncs.dc2.internal": topic("mirror_maker2", 3, partitions(1, brokers, [77_120]), {
            "cleanup.policy": cfg("compact", "dynamic_topic")}, rate(3.1)),
        "dc2.checkpoints.internal": topic("mirror_maker2", 3, partitions(1, brokers, [12_884]), {
            "cleanup.policy": cfg("compact", "dynamic_topic")}, rate(0.4)),
        "heartbeats": topic("mirror_maker2", 3, partitions(1, brokers, [1_209_600]), {
            "cleanup.policy": cfg("compact", "dynamic_topic")}, rate(1.0)),
        "billing-app-KSTREAM-AGGREGATE-STATE-STORE-0000000003-changelog": topic(
            "kafka_streams", 3, partitions(12, brokers, [310_004 + 7 * p for p in range(12)]), {
                "cleanup.policy": cfg("compact", "dynamic_topic")}, rate(40.2)),
        "billing-app-KSTREAM-AGGREGATE-0000000003-repartition": topic(
            "kafka_streams", 3, partitions(12, brokers, [5_400_120 + 11 * p for p in range(12)],
                                           [5_400_020 + 11 * p for p in range(12)]), {
                "cleanup.policy": cfg("delete", "dynamic_topic"), "retention.ms": cfg("-1", "dynamic_topic")},
            rate(210.7)),
        "connect-configs": topic("connect", 3, partitions(1, brokers, [58]), {
            "cleanup.policy": cfg("compact", "dynamic_topic")}, rate(0)),
        "connect-offsets": topic("connect", 3, partitions(25, brokers, [400 + p for p in range(25)]), {
            "cleanup.policy": cfg("compact", "dynamic_topic")}, rate(0.2)),
        "connect-status": topic("connect", 3, partitions(5, brokers, [91, 88, 93, 90, 87]), {
            "cleanup.policy": cfg("compact", "dynamic_topic")}, rate(0)),
    }
    cluster = {
        "bootstrap_servers": [f"kafka-{i}.dc1.example.internal:9093" for i in brokers],
        "auth_method": "sasl_scram",
        "cluster_id": "Xk3v9QzvT9mJ8fYtq1wA2w",
        "controller_id": 2,
        "brokers": [{"id": i, "host": f"kafka-{i}.dc1.example.internal", "port": 9093, "rack": f"rack-{'abc'[i - 1]}"}
                    for i in brokers],
        "kafka_version": "3.7.1",
        "scanned_at": "2026-11-20T14:02:11Z",
        "topics": dict(sorted(topics.items())),
    }
    acls = [
        acl("topic", "orders", "literal", "User:orders-service", "write"),
        acl("topic", "orders", "literal", "User:orders-service", "describe"),
        acl("topic", "orders", "literal", "User:billing-app", "read"),
        acl("topic", "billing-app-", "prefixed", "User:billing-app", "all"),
        acl("topic", "payments.", "prefixed", "User:billing-app", "write"),
        acl("topic", "customers", "literal", "User:contractor", "read", "deny"),
        acl("topic", "*", "literal", "User:mm2", "read"),
        acl("group", "billing-app", "literal", "User:billing-app", "read"),
        acl("group", "orders-processor", "literal", "User:orders-service", "read"),
        acl("group", "connect-", "prefixed", "User:connect", "read"),
        acl("cluster", "kafka-cluster", "literal", "User:orders-service", "idempotent_write"),
        acl("transactional_id", "billing-app-", "prefixed", "User:billing-app", "write"),
    ]
    cluster["acls"] = sorted(acls, key=acl_key)
    latest = latest_index(cluster)
    cluster["consumer_groups"] = {
        "audit-replay": group("Empty", None, [], [("payments.settled", p, 8_500_000 + p) for p in range(6)], latest),
        "billing-app": group("Stable", "cooperative-sticky", [
            member("billing-app-1-StreamThread-1-consumer-4f1c", "billing-app-1-StreamThread-1-consumer", "/10.1.4.21",
                   [("orders", p) for p in range(0, 12, 2)]),
            member("billing-app-2-StreamThread-1-consumer-9a0e", "billing-app-2-StreamThread-1-consumer", "/10.1.4.22",
                   [("orders", p) for p in range(1, 12, 2)]),
        ], [("orders", p, orders_latest[p] - 40 - p) for p in range(12)], latest),
        "mm2-dc2": group("Stable", "range", [
            member("mm2-1-1d7a", "mm2-1", "/10.1.9.3", [("heartbeats", 0), ("mm2-offset-syncs.dc2.internal", 0)]),
        ], [("heartbeats", 0, 1_209_600), ("mm2-offset-syncs.dc2.internal", 0, 77_118)], latest),
        "orders-processor": group("Stable", "range", [
            member("orders-processor-0-6b21", "orders-processor-0", "/10.1.3.10", [("orders", p) for p in range(6)]),
            member("orders-processor-1-c3d4", "orders-processor-1", "/10.1.3.11", [("orders", p) for p in range(6, 12)]),
        ], [("orders", p, orders_latest[p] - 12) for p in range(12)], latest),
    }
    return {
        "schema_version": 1,
        "created_at": "2026-11-20T14:02:09Z",
        "updated_at": "2026-11-20T14:02:31Z",
        "written_by": {"name": "kcp", "version": "0.1.0"},
        "clusters": {"onprem-prod": cluster},
    }


def msk_region():
    orders = msk_cluster(
        "orders-prod", "5a4f3c2e-1b2d-4e5f-8a9b-0c1d2e3f4a5b-2", "provisioned", "ACTIVE", "2024-03-11T09:41:27Z",
        "3.6.0", 6, "kafka.m5.2xlarge", 1000, ["use1-az1", "use1-az2", "use1-az4"],
        {"iam": True, "sasl_scram": True, "tls": False, "unauthenticated": False},
        {"sasl_scram": broker_hosts("ordersprod.abc123.c2", 9096), "sasl_iam": broker_hosts("ordersprod.abc123.c2", 9098)},
        props={"auto.create.topics.enable": "false", "default.replication.factor": "3", "min.insync.replicas": "2",
               "num.partitions": "6", "log.retention.hours": "168", "unclean.leader.election.enable": "false"},
        tags={"env": "prod", "team": "commerce", "cost-center": "cc-4411"},
        metrics=[
            series("orders-prod", "BytesInPerSec", "Average", "Bytes/Second", 24_800_000, 650_000),
            series("orders-prod", "BytesOutPerSec", "Average", "Bytes/Second", 61_300_000, 1_400_000, 0.3),
            series("orders-prod", "MessagesInPerSec", "Average", "Count/Second", 21_450, 900, 0.6),
            series("orders-prod", "PartitionCount", "Maximum", "Count", 1_842, 0.0, 0.0),
            series("orders-prod", "ClientConnectionCount", "Maximum", "Count", 412, 18, 1.1),
            series("orders-prod", "KafkaDataLogsDiskUsed", "Average", "GB", 3_120, 40, 2.0),
        ])
    analytics = msk_cluster(
        "analytics-dev", "0d9c8b7a-6f5e-4d3c-2b1a-0f9e8d7c6b5a-1", "provisioned", "ACTIVE", "2025-01-20T16:05:03Z",
        "3.5.1", 3, "kafka.m5.large", 250, ["use1-az1", "use1-az2", "use1-az4"],
        {"iam": False, "sasl_scram": False, "tls": True, "unauthenticated": False},
        {"tls": broker_hosts("analyticsdev.k3j2h1.c4", 9094)},
        tags={"env": "dev", "team": "data"},
        metrics=[
            series("analytics-dev", "BytesInPerSec", "Average", "Bytes/Second", 1_250_000, 90_000, 0.9),
            series("analytics-dev", "BytesOutPerSec", "Average", "Bytes/Second", 2_900_000, 150_000, 1.4),
            series("analytics-dev", "MessagesInPerSec", "Average", "Count/Second", 2_310, 140, 0.2),
            series("analytics-dev", "PartitionCount", "Maximum", "Count", 318, 0.0),
            series("analytics-dev", "ClientConnectionCount", "Maximum", "Count", 57, 6, 0.5),
            series("analytics-dev", "KafkaDataLogsDiskUsed", "Average", "GB", 141, 4, 1.0),
        ],
        warnings=[{"call": "kafka:GetClusterPolicy", "code": "AccessDeniedException",
                   "message": "User: arn:aws:iam::123456789012:role/kcp-discovery is not authorized to perform: kafka:GetClusterPolicy",
                   "hint": "add kafka:GetClusterPolicy to the discovery role (see `kcp discover --print-iam-policy`)"}])
    serverless = msk_cluster(
        "events-serverless", "9e8d7c6b-5a4f-3e2d-1c0b-a9f8e7d6c5b4-s1", "serverless", "ACTIVE", "2025-06-02T11:17:45Z",
        None, None, None, None, ["use1-az1", "use1-az2"],
        {"iam": True, "sasl_scram": False, "tls": False, "unauthenticated": False},
        {"sasl_iam": ["boot-x7y8z9.c1.kafka-serverless.us-east-1.amazonaws.com:9098"]},
        tags={"env": "prod", "team": "events"},
        metrics=[series("events-serverless", "BytesInPerSec", "Average", "Bytes/Second", 310_000, 20_000, 0.7,
                        topic="clickstream")])
    clusters = {c["arn"]: c for c in [orders, analytics, serverless]}
    region = {
        "discovered_at": "2026-11-15T09:12:44Z",
        "clusters": dict(sorted(clusters.items())),
        "costs": {"start": "2026-11-01", "end": "2026-11-15", "granularity": "DAILY", "rows": cost_rows(),
                  "query": cost_query()},
        "warnings": [{"call": "kafka:ListClientVpcConnections", "code": "AccessDeniedException",
                      "message": "User: arn:aws:iam::123456789012:role/kcp-discovery is not authorized to perform: kafka:ListClientVpcConnections",
                      "hint": "add kafka:ListClientVpcConnections to the discovery role (see `kcp discover --print-iam-policy`)"}],
    }
    brokers = [1, 2, 3, 4, 5, 6]
    scanned_topics = {
        "orders.created": topic("user", 3, partitions(24, brokers, [9_210_442 + 173 * p for p in range(24)],
                                                      [6_002_110 + 101 * p for p in range(24)]), {
            "retention.ms": cfg("604800000", "dynamic_topic"), "min.insync.replicas": cfg("2", "static_broker")},
            rate(14_210.5)),
        "orders.shipped": topic("user", 3, partitions(12, brokers, [3_120_004 + 61 * p for p in range(12)]), {
            "retention.ms": cfg("1209600000", "dynamic_topic")}, rate(3_902.0)),
        "inventory.snapshots": topic("user", 3, partitions(6, brokers, [880_117 + 5 * p for p in range(6)]), {
            "cleanup.policy": cfg("compact", "dynamic_topic")}, rate(210.4)),
        "__amazon_msk_canary": topic("internal", 3, partitions(6, brokers, [1_301_221 + p for p in range(6)],
                                                                [1_299_000 + p for p in range(6)]), {}, rate(6.0)),
    }
    scanned = {
        "bootstrap_servers": broker_hosts("ordersprod.abc123.c2", 9096),
        "auth_method": "sasl_scram",
        "msk_arn": orders["arn"],
        "cluster_id": "t5PZv2LgS4qYc1Fh7nJx0A",
        "controller_id": 3,
        "brokers": [{"id": i, "host": f"b-{i}.ordersprod.abc123.c2.kafka.us-east-1.amazonaws.com", "port": 9096,
                     "rack": ["use1-az1", "use1-az2", "use1-az4"][(i - 1) % 3]} for i in brokers],
        "kafka_version": "3.6.0",
        "scanned_at": "2026-11-15T09:13:40Z",
        "topics": dict(sorted(scanned_topics.items())),
        "acls": sorted([
            acl("topic", "orders.", "prefixed", "User:orders-api", "write"),
            acl("topic", "orders.", "prefixed", "User:fulfilment", "read"),
            acl("group", "fulfilment", "literal", "User:fulfilment", "read"),
        ], key=acl_key),
    }
    latest = latest_index(scanned)
    scanned["consumer_groups"] = {
        "fulfilment": group("Stable", "range", [
            member("fulfilment-0-2c5e", "fulfilment-0", "/10.20.1.15", [("orders.created", p) for p in range(12)]),
            member("fulfilment-1-8d1f", "fulfilment-1", "/10.20.2.15", [("orders.created", p) for p in range(12, 24)]),
        ], [("orders.created", p, latest[("orders.created", p)] - 150 - 3 * p) for p in range(24)], latest),
    }
    return {
        "schema_version": 1,
        "created_at": "2026-11-15T09:12:44Z",
        "updated_at": "2026-11-15T09:14:02Z",
        "written_by": {"name": "kcp", "version": "0.1.0"},
        "msk_regions": {REGION: region},
        "clusters": {"orders-prod": scanned},
    }


def write(name, doc):
    (HERE / name).write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    write("msk-region.json", msk_region())
    write("self-managed.json", self_managed())
