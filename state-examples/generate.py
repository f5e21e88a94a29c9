"""Regenerates the example states in this folder.

    python3 state-examples/generate.py [OUTPUT_DIR]

The examples are realistic but invented: an MSK estate in us-east-1 as
`kcp discover` (+ one `kcp scan`) records it, and a self-managed Apache Kafka
cluster as `kcp scan` records it. Values are deterministic (no randomness, no
clock) and consistent with each other: disk use follows bytes in and
retention, cross-AZ transfer cost follows bytes in and out, lag is latest
offset minus committed offset, topic rates match the offsets' growth.

The files are written exactly as kcp writes state files: keys in the order of
the model's struct fields, maps sorted by key, lists sorted as
`State::normalize` sorts them, 2-space indentation, trailing newline. So
`kcp state validate` accepts them and a save leaves them unchanged (tested).
"""

import json
import math
import pathlib
import sys
from datetime import date, datetime, timedelta, timezone

HERE = pathlib.Path(__file__).parent
ACCOUNT = "123456789012"
REGION = "us-east-1"
START = date(2026, 11, 1)
DAYS = [START + timedelta(days=i) for i in range(14)]  # 2026-11-01 .. 2026-11-14
END = DAYS[-1] + timedelta(days=1)  # exclusive, as CloudWatch and Cost Explorer take it


# ---------------------------------------------------------------- helpers


def noise(i, seed):
    """Deterministic noise in [-1, 1)."""
    x = math.sin(i * 12.9898 + seed * 78.233) * 43758.5453
    return (x - math.floor(x)) * 2 - 1


def day_factor(d, weekend):
    """1.0 on weekdays, `weekend` on Saturdays and Sundays."""
    return weekend if d.weekday() >= 5 else 1.0


def ts(d):
    return datetime(d.year, d.month, d.day, tzinfo=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def sh_quote(text):
    """Quotes `text` for a POSIX shell, as one word."""
    return "'" + text.replace("'", "'\\''") + "'"


def compact(obj):
    return json.dumps(obj, separators=(",", ":"))


ACL_ORDER = {
    "resource_type": ["topic", "group", "cluster", "transactional_id", "delegation_token", "user"],
    "pattern_type": ["literal", "prefixed"],
    "operation": ["all", "read", "write", "create", "delete", "alter", "describe", "cluster_action",
                  "describe_configs", "alter_configs", "idempotent_write", "create_tokens", "describe_tokens"],
    "permission": ["allow", "deny"],
}


def acl_key(a):
    """The order of `#[derive(Ord)]` on `AclBinding`: fields in declaration
    order, enum variants in declaration order."""
    return (ACL_ORDER["resource_type"].index(a["resource_type"]), a["resource_name"],
            ACL_ORDER["pattern_type"].index(a["pattern_type"]), a["principal"], a["host"],
            ACL_ORDER["operation"].index(a["operation"]), ACL_ORDER["permission"].index(a["permission"]))


# ---------------------------------------------------------------- MSK discovery


def arn(name, uid):
    return f"arn:aws:kafka:{REGION}:{ACCOUNT}:cluster/{name}/{uid}"


def brokers_string(prefix, port, count=3):
    return [f"b-{i}.{prefix}.kafka.{REGION}.amazonaws.com:{port}" for i in range(1, count + 1)]


def get_metric_data(queries):
    return (f"aws cloudwatch get-metric-data --region {REGION} --start-time {ts(START)} --end-time {ts(END)} "
            f"--metric-data-queries {sh_quote(compact(queries))}")


def search_query(cluster, metric, stat, dims, scale=None):
    """The sum over brokers of a per-broker metric, as a SEARCH expression
    (MSK publishes these per broker only, not per cluster)."""
    schema = ",".join(["AWS/Kafka"] + [f'"{d}"' for d in sorted(dims)])
    search = f"SEARCH('{{{schema}}} MetricName=\"{metric}\" \"Cluster Name\"=\"{cluster}\"', '{stat}', 86400)"
    expression = f"SUM({search})"
    if scale:
        expression += f" * {scale}"
    return get_metric_data([{"Id": "m1", "Expression": expression, "ReturnData": True}])


def metric_stat_query(dims, metric, stat):
    return get_metric_data([{"Id": "m1", "MetricStat": {
        "Metric": {"Namespace": "AWS/Kafka", "MetricName": metric,
                   "Dimensions": [{"Name": k, "Value": v} for k, v in dims]},
        "Period": 86400, "Stat": stat}, "ReturnData": True}])


def series(metric, stat, unit, values, query, topic=None):
    out = {"metric": metric, "statistic": stat, "period_seconds": 86400, "unit": unit}
    if topic is not None:
        out["topic"] = topic
    out["points"] = [{"t": ts(d), "v": float(v)} for d, v in zip(DAYS, values)]
    out["query"] = query
    return out


class Load:
    """Daily traffic of a provisioned cluster, from which every series and the
    data-transfer cost are derived."""

    def __init__(self, name, seed, bytes_in, weekend, fanout, msg_size, retention_days, storage_gb, brokers,
                 baseline_gb, replicas, connections, connections_weekend):
        self.name = name
        history = [START - timedelta(days=retention_days) + timedelta(days=i)
                   for i in range(retention_days + len(DAYS))]
        # Bytes in per second, one value per day, with the days before the
        # window that are still on disk.
        self.history = [bytes_in * day_factor(d, weekend) * (1 + 0.05 * noise(i, seed)) * (1 + 0.002 * i)
                        for i, d in enumerate(history)]
        self.bytes_in = self.history[retention_days:]
        self.bytes_out = [b * fanout * (1 + 0.04 * noise(i, seed + 1)) for i, b in enumerate(self.bytes_in)]
        self.messages_in = [b / msg_size * (1 + 0.02 * noise(i, seed + 2)) for i, b in enumerate(self.bytes_in)]
        # Disk: what is retained (RF 3), plus compacted topics and offsets.
        self.disk_gb = [baseline_gb + 3 * sum(self.history[i + 1:i + retention_days + 1]) * 86400 / 1e9
                        for i in range(len(DAYS))]
        assert max(self.disk_gb) < storage_gb * brokers * 0.85, (name, max(self.disk_gb))
        self.replicas = replicas
        self.connections = [(connections_weekend if d.weekday() >= 5 else connections) + round(4 * noise(i, seed + 3))
                            for i, d in enumerate(DAYS)]
        self.storage_gb = storage_gb

    def metrics(self):
        n = self.name
        broker = ["Broker ID", "Cluster Name"]
        return [
            series("BytesInPerSec", "Average", "Bytes/Second", [round(v, 2) for v in self.bytes_in],
                   search_query(n, "BytesInPerSec", "Average", broker)),
            series("BytesOutPerSec", "Average", "Bytes/Second", [round(v, 2) for v in self.bytes_out],
                   search_query(n, "BytesOutPerSec", "Average", broker)),
            series("ClientConnectionCount", "Maximum", "Count", self.connections,
                   search_query(n, "ClientConnectionCount", "Maximum",
                                ["Broker ID", "Client Authentication", "Cluster Name"])),
            # KafkaDataLogsDiskUsed is a percentage per broker; kcp converts it
            # to GB with the EBS size (the `* 10` below is 1000 GB / 100 %).
            series("KafkaDataLogsDiskUsed", "Maximum", "GB", [round(v, 1) for v in self.disk_gb],
                   search_query(n, "KafkaDataLogsDiskUsed", "Maximum", broker,
                                scale=f"{self.storage_gb // 100}" if self.storage_gb % 100 == 0
                                else f"{self.storage_gb} / 100")),
            series("MessagesInPerSec", "Average", "Count/Second", [round(v, 2) for v in self.messages_in],
                   search_query(n, "MessagesInPerSec", "Average", broker)),
            series("PartitionCount", "Maximum", "Count", self.replicas,
                   search_query(n, "PartitionCount", "Maximum", broker)),
        ]

    def cross_az_gb(self, i):
        """Client traffic that crosses an AZ: with leaders spread over three
        AZs, two thirds of it."""
        return (self.bytes_in[i] + self.bytes_out[i]) * 86400 / 1e9 * 2 / 3


def msk_cluster(name, uid, cluster_type, created, version, brokers, instance, storage, azs, auth, servers,
                props=None, tags=None, policies=None, metrics=None, warnings=None, notes=None):
    c = {
        "name": name,
        "arn": arn(name, uid),
        "cluster_type": cluster_type,
        "state": "ACTIVE",
        "created_at": created,
        "kafka_version": version,
        "broker_count": brokers,
        "instance_type": instance,
        "storage_gb_per_broker": storage,
        "availability_zones": sorted(azs),
        "auth": auth,
        "bootstrap_servers": {k: sorted(v) for k, v in sorted(servers.items())},
    }
    if props:
        c["server_properties"] = dict(sorted(props.items()))
    if tags:
        c["tags"] = dict(sorted(tags.items()))
    if policies:
        c["iam_policies"] = sorted(policies, key=lambda p: p["source"])
    if metrics:
        c["metrics"] = sorted(metrics, key=lambda m: (m["metric"], m.get("topic") is not None, m.get("topic") or "",
                                                       m["statistic"], m["period_seconds"]))
    if warnings:
        c["warnings"] = sorted(warnings, key=lambda w: (w["call"], w["code"], w["message"], w["hint"]))
    if notes:
        c["notes"] = notes
    return c


def orders_iam_policies(name, uid):
    """The cluster policy and one client's identity policy (IAM-authenticated clients)."""
    def res(kind, rest=""):
        base = f"arn:aws:kafka:{REGION}:{ACCOUNT}:{kind}/{name}/{uid}"
        return base + (f"/{rest}" if rest else "")

    def role(r):
        return f"arn:aws:iam::{ACCOUNT}:role/{r}"

    cluster_policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "OrdersApi", "Effect": "Allow", "Principal": {"AWS": role("orders-api")},
             "Action": ["kafka-cluster:Connect", "kafka-cluster:DescribeTopic", "kafka-cluster:WriteData",
                        "kafka-cluster:ReadData", "kafka-cluster:DescribeGroup", "kafka-cluster:AlterGroup"],
             "Resource": [res("cluster"), res("topic", "orders.*"), res("topic", "payments.settled"),
                          res("group", "orders-api")]},
            {"Sid": "Etl", "Effect": "Allow", "Principal": {"AWS": [role("analytics-etl")]},
             "Action": ["kafka-cluster:Connect", "kafka-cluster:DescribeTopic", "kafka-cluster:ReadData",
                        "kafka-cluster:AlterGroup"],
             "Resource": [res("cluster"), res("topic", "*"), res("group", "etl-*")]},
            {"Sid": "EtlNoPayments", "Effect": "Deny", "Principal": {"AWS": role("analytics-etl")},
             "Action": "kafka-cluster:ReadData", "Resource": res("topic", "payments.*")},
            {"Sid": "OfficeOnly", "Effect": "Allow", "Principal": {"AWS": role("support-tools")},
             "Action": "kafka-cluster:ReadData", "Resource": res("topic", "*"),
             "Condition": {"IpAddress": {"aws:SourceIp": "10.20.0.0/16"}}},
        ],
    }
    admin_policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["kafka-cluster:*"],
             "Resource": [res("cluster"), res("topic", "*"), res("group", "*"), res("transactional-id", "*")]},
        ],
    }
    return [
        {"source": "cluster-policy", "document": cluster_policy},
        {"source": f"arn:aws:iam::{ACCOUNT}:policy/orders-kafka-admin", "attached_to": role("orders-admin"),
         "document": admin_policy},
    ]


def access_denied(action, resource, hint):
    return {
        "call": action,
        "code": "AccessDeniedException",
        "message": (f"User: arn:aws:sts::{ACCOUNT}:assumed-role/kcp-discovery/kcp is not authorized to perform: "
                    f"{action} on resource: {resource} because no identity-based policy allows the {action} action"),
        "hint": hint,
    }


MSK = "Amazon Managed Streaming for Apache Kafka"
COST_METRICS = ["UnblendedCost", "BlendedCost", "AmortizedCost", "NetUnblendedCost", "NetAmortizedCost"]
DISCOUNT = 0.06  # an enterprise discount: the Net* metrics are 6 % lower


def cost_rows(orders, analytics, serverless_partitions):
    rows = []
    for i, d in enumerate(DAYS):
        usage = [
            (MSK, "USE1-Kafka.m5.2xlarge", 6 * 24 * 0.84),
            (MSK, "USE1-Kafka.m5.large", 3 * 24 * 0.21),
            # 0.10 USD per GB-month, billed by the hour (November has 30 days).
            (MSK, "USE1-Kafka.Storage.GP2", (6 * 1000 + 3 * 250) * 0.10 / 30),
            (MSK, "USE1-Kafka.Serverless.ClusterHours", 24 * 0.75),
            (MSK, "USE1-Kafka.Serverless.PartitionHours", serverless_partitions[i] * 24 * 0.0015),
            # 0.01 USD per GB on each side of an AZ boundary.
            ("EC2 - Other", "USE1-DataTransfer-Regional-Bytes",
             (orders.cross_az_gb(i) + analytics.cross_az_gb(i)) * 0.02),
            # The serverless cluster's endpoints, one per subnet.
            ("Amazon Virtual Private Cloud", "USE1-VpcEndpoint-Hours", 3 * 24 * 0.01),
        ]
        for service, usage_type, amount in usage:
            gross = round(amount, 6)
            net = round(amount * (1 - DISCOUNT), 6)
            metrics = {m: {"amount": net if m.startswith("Net") else gross, "unit": "USD"} for m in COST_METRICS}
            rows.append({"date": d.isoformat(), "service": service, "usage_type": usage_type,
                         "metrics": dict(sorted(metrics.items()))})
    rows.sort(key=lambda r: (r["date"], r["service"], r["usage_type"]))
    return rows


def cost_query():
    flt = {"And": [
        {"Dimensions": {"Key": "REGION", "Values": [REGION]}},
        {"Dimensions": {"Key": "SERVICE", "Values": [MSK, "EC2 - Other", "Amazon Virtual Private Cloud"]}},
    ]}
    return (f"aws ce get-cost-and-usage --time-period Start={START.isoformat()},End={END.isoformat()} "
            f"--granularity DAILY --metrics {' '.join(COST_METRICS)} "
            f"--group-by Type=DIMENSION,Key=SERVICE Type=DIMENSION,Key=USAGE_TYPE --filter {sh_quote(compact(flt))}")


# ---------------------------------------------------------------- Kafka scans


def replicas_of(p, brokers, rf=3):
    """Round-robin placement, as Kafka does without an explicit assignment;
    consecutive broker ids are in different racks in both examples."""
    return [brokers[(p + k) % len(brokers)] for k in range(rf)]


def partitions(count, brokers, latest, earliest, sizes=None, overrides=None):
    out = []
    for p in range(count):
        replicas = replicas_of(p, brokers)
        part = {
            "id": p,
            "leader": replicas[0],
            "replicas": replicas,
            "isr": sorted(replicas),
            "earliest_offset": earliest[p],
            "latest_offset": latest[p],
        }
        if sizes is not None:
            part["size_bytes"] = sizes[p]
        if overrides and p in overrides:
            part.update(overrides[p])
            part["isr"] = sorted(part["isr"])
        assert part["earliest_offset"] <= part["latest_offset"]
        out.append(part)
    return out


def cfg(value, source):
    return {"value": value, "source": source, "sensitive": False}


def topic(kind, parts, configs, rate):
    return {
        "kind": kind,
        "replication_factor": max(len(p["replicas"]) for p in parts),
        "partitions": parts,
        "configs": dict(sorted(configs.items())),
        "rate": rate,
    }


def rate(messages_in_window, window=10.0):
    """A rate sample as `kcp scan` takes it: messages between two offset
    snapshots `window` seconds apart."""
    return {"messages_per_sec": round(messages_in_window / window, 3), "window_secs": window,
            "idle": messages_in_window == 0}


def acl(rtype, name, pattern, principal, op, perm="allow", host="*"):
    return {"resource_type": rtype, "resource_name": name, "pattern_type": pattern, "principal": principal,
            "host": host, "operation": op, "permission": perm}


def member(member_id, client_id, host, assignments):
    return {"member_id": member_id, "client_id": client_id, "host": host,
            "assignments": [{"topic": t, "partition": p} for t, p in sorted(assignments)]}


def group(state, protocol_type, protocol, members, committed, topics):
    latest = {(name, p["id"]): p["latest_offset"] for name, t in topics.items() for p in t["partitions"]}
    offsets = []
    for (t, p), c in sorted(committed.items()):
        lag = latest[(t, p)] - c
        assert lag >= 0, (t, p)
        offsets.append({"topic": t, "partition": p, "committed": c, "lag": lag})
    return {"state": state, "protocol_type": protocol_type, "protocol": protocol,
            "members": sorted(members, key=lambda m: m["member_id"]), "offsets": offsets}


def kafka_cluster(bootstrap, auth_method, cluster_id, controller_id, brokers, version, scanned_at, topics, acls,
                  groups, msk_arn=None, notes=None):
    c = {"bootstrap_servers": bootstrap, "auth_method": auth_method}
    if msk_arn:
        c["msk_arn"] = msk_arn
    c.update({
        "cluster_id": cluster_id,
        "controller_id": controller_id,
        "brokers": sorted(brokers, key=lambda b: b["id"]),
        "kafka_version": version,
        "scanned_at": scanned_at,
        "topics": dict(sorted(topics.items())),
        "acls": sorted(acls, key=acl_key),
        "consumer_groups": dict(sorted(groups.items())),
    })
    if notes:
        c["notes"] = notes
    return c


def spread(base, step, count, seed, jitter):
    """`count` offsets around `base`, uneven as keyed partitions are."""
    return [base + step * p + int(jitter * (noise(p, seed) + 1)) for p in range(count)]


# ---------------------------------------------------------------- msk-region.json


def msk_region():
    orders_uid = "5a4f3c2e-1b2d-4e5f-8a9b-0c1d2e3f4a5b-2"
    azs = ["use1-az1", "use1-az2", "use1-az4"]
    orders_load = Load("orders-prod", 1, bytes_in=2_350_000, weekend=0.55, fanout=2.7, msg_size=1_150,
                       retention_days=7, storage_gb=1000, brokers=6, baseline_gb=38,
                       # inventory.snapshots (6 partitions, RF 3) was created on 2026-11-05.
                       replicas=[258 if d < date(2026, 11, 5) else 276 for d in DAYS],
                       connections=186, connections_weekend=158)
    analytics_load = Load("analytics-dev", 2, bytes_in=210_000, weekend=0.35, fanout=2.2, msg_size=330,
                          retention_days=7, storage_gb=250, brokers=3, baseline_gb=21,
                          replicas=[411 if d < date(2026, 11, 10) else 423 for d in DAYS],
                          connections=38, connections_weekend=14)
    orders = msk_cluster(
        "orders-prod", orders_uid, "provisioned", "2024-03-11T09:41:27Z", "3.6.0", 6, "kafka.m5.2xlarge", 1000,
        azs, {"iam": True, "sasl_scram": True, "tls": False, "unauthenticated": False},
        {"sasl_scram": brokers_string("ordersprod.abc123.c2", 9096),
         "sasl_iam": brokers_string("ordersprod.abc123.c2", 9098)},
        props={"auto.create.topics.enable": "false", "default.replication.factor": "3", "min.insync.replicas": "2",
               "num.partitions": "6", "log.retention.hours": "168", "unclean.leader.election.enable": "false"},
        tags={"env": "prod", "team": "commerce", "cost-center": "cc-4411"},
        policies=orders_iam_policies("orders-prod", orders_uid),
        metrics=orders_load.metrics())
    analytics = msk_cluster(
        "analytics-dev", "0d9c8b7a-6f5e-4d3c-2b1a-0f9e8d7c6b5a-4", "provisioned", "2025-01-20T16:05:03Z", "3.5.1",
        3, "kafka.m5.large", 250, azs, {"iam": False, "sasl_scram": False, "tls": True, "unauthenticated": False},
        {"tls": brokers_string("analyticsdev.k3j2h1.c4", 9094)},
        tags={"env": "dev", "team": "data", "cost-center": "cc-2290"},
        metrics=analytics_load.metrics(),
        warnings=[access_denied(
            "kafka:DescribeConfigurationRevision",
            f"arn:aws:kafka:{REGION}:{ACCOUNT}:configuration/analytics-dev-config/7c1e9a52-3b4d-4f6a-9e8d-2c1b0a9f8e7d-4",
            "grant kafka:DescribeConfigurationRevision to the discovery role; until then the cluster's "
            "server.properties are not in the state")],
        notes="Dev cluster of the data team. Only the topics under analytics.* move; the rest is scratch.")
    # Serverless: no brokers, no EBS, IAM only; one bootstrap endpoint.
    clicks = [410_000 * day_factor(d, 1.35) * (1 + 0.06 * noise(i, 9)) for i, d in enumerate(DAYS)]
    serverless = msk_cluster(
        "events-serverless", "9e8d7c6b-5a4f-3e2d-1c0b-a9f8e7d6c5b4-s1", "serverless", "2025-06-02T11:17:45Z",
        None, None, None, None, [], {"iam": True, "sasl_scram": False, "tls": False, "unauthenticated": False},
        {"sasl_iam": [f"boot-x7y8z9ab.c1.kafka-serverless.{REGION}.amazonaws.com:9098"]},
        tags={"env": "prod", "team": "events", "cost-center": "cc-4411"},
        metrics=[series("BytesInPerSec", "Average", "Bytes/Second", [round(v, 2) for v in clicks],
                        metric_stat_query([("Cluster Name", "events-serverless"), ("Topic", "clickstream")],
                                          "BytesInPerSec", "Average"),
                        topic="clickstream")])
    # Partitions of the serverless cluster (billed per partition-hour); 24
    # were added on 2026-11-09.
    serverless_partitions = [96 if d < date(2026, 11, 9) else 120 for d in DAYS]
    region = {
        "discovered_at": "2026-11-15T09:12:31Z",
        "clusters": {c["arn"]: c for c in sorted([orders, analytics, serverless], key=lambda c: c["arn"])},
        "costs": {
            "start": START.isoformat(),
            "end": END.isoformat(),
            "granularity": "DAILY",
            "rows": cost_rows(orders_load, analytics_load, serverless_partitions),
            "query": cost_query(),
        },
        "warnings": [access_denied(
            "kafka:ListClientVpcConnections", f"arn:aws:kafka:{REGION}:{ACCOUNT}:/api/v2/client-vpc-connections",
            "grant kafka:ListClientVpcConnections to the discovery role; until then multi-VPC private "
            "connectivity is not in the inventory")],
    }

    # `kcp scan` of orders-prod through its SASL/SCRAM listener, on a Sunday morning.
    brokers = [1, 2, 3, 4, 5, 6]
    created_latest = spread(2_241_380_117, 0, 24, 11, 2_600_000)
    created_earliest = [lat - 25_712_004 - int(180_000 * (noise(p, 12) + 1)) for p, lat in enumerate(created_latest)]
    shipped_latest = spread(1_338_905_442, 0, 12, 13, 1_400_000)
    shipped_earliest = [lat - 30_840_551 - int(150_000 * (noise(p, 14) + 1)) for p, lat in enumerate(shipped_latest)]
    snapshots_latest = spread(48_120, 0, 6, 15, 900)
    offsets_latest = [1_204 + 37 * p for p in range(50)]
    offsets_latest[17] = 412_903_554  # fulfilment's coordinator partition
    offsets_latest[31] = 88_120_337  # shipping-notifier's
    static = "static_broker"
    topics = {
        "__consumer_offsets": topic("internal", partitions(50, brokers, offsets_latest, [0] * 50), {
            "cleanup.policy": cfg("compact", "dynamic_topic"),
            "compression.type": cfg("producer", "dynamic_topic"),
            "min.insync.replicas": cfg("2", static),
            "segment.bytes": cfg("104857600", "dynamic_topic"),
        }, rate(143)),
        "inventory.snapshots": topic("user", partitions(6, brokers, snapshots_latest, [0] * 6), {
            "cleanup.policy": cfg("compact", "dynamic_topic"),
            "min.compaction.lag.ms": cfg("600000", "dynamic_topic"),
            "min.insync.replicas": cfg("2", static),
            "retention.ms": cfg("604800000", static),
            "unclean.leader.election.enable": cfg("false", static),
        }, rate(32)),
        "orders.created": topic("user", partitions(24, brokers, created_latest, created_earliest), {
            "cleanup.policy": cfg("delete", "default"),
            "compression.type": cfg("zstd", "dynamic_topic"),
            "max.message.bytes": cfg("1048588", "default"),
            "min.insync.replicas": cfg("2", static),
            # From log.retention.hours=168 in the MSK configuration.
            "retention.ms": cfg("604800000", static),
            "unclean.leader.election.enable": cfg("false", static),
        }, rate(6_124)),
        "orders.shipped": topic("user", partitions(12, brokers, shipped_latest, shipped_earliest), {
            "cleanup.policy": cfg("delete", "default"),
            "compression.type": cfg("zstd", "dynamic_topic"),
            "max.message.bytes": cfg("1048588", "default"),
            "min.insync.replicas": cfg("2", static),
            "retention.ms": cfg("1209600000", "dynamic_topic"),
            "unclean.leader.election.enable": cfg("false", static),
        }, rate(2_817)),
    }
    acls = [
        acl("topic", "orders.", "prefixed", "User:orders-api", "write"),
        acl("topic", "orders.", "prefixed", "User:fulfilment", "read"),
        acl("topic", "orders.shipped", "literal", "User:shipping-notifier", "read"),
        acl("topic", "inventory.", "prefixed", "User:inventory-sync", "all"),
        acl("group", "fulfilment", "literal", "User:fulfilment", "read"),
        acl("group", "shipping-notifier", "literal", "User:shipping-notifier", "read"),
        acl("cluster", "kafka-cluster", "literal", "User:orders-api", "idempotent_write"),
    ]
    groups = {
        "fulfilment": group("Stable", "consumer", "range", [
            member("consumer-fulfilment-1-0b6d7c0e-3e4f-4a8b-9c1d-2e3f4a5b6c7d", "consumer-fulfilment-1",
                   "/10.20.1.15", [("orders.created", p) for p in range(12)]),
            member("consumer-fulfilment-1-e91a44f2-07c3-4d15-b8a6-5f2e9d3c1b07", "consumer-fulfilment-1",
                   "/10.20.2.15", [("orders.created", p) for p in range(12, 24)]),
        ], {("orders.created", p): created_latest[p] - 40 - int(60 * (noise(p, 16) + 1)) for p in range(24)}, topics),
        "shipping-notifier": group("Stable", "consumer", "cooperative-sticky", [
            member("shipping-notifier-7f3b2a10-5c6d-4e8f-a1b2-c3d4e5f6a7b8", "shipping-notifier",
                   "/10.20.3.41", [("orders.shipped", p) for p in range(12)]),
        ], {("orders.shipped", p): shipped_latest[p] - int(900 * (noise(p, 17) + 1)) for p in range(12)}, topics),
    }
    scanned = kafka_cluster(
        brokers_string("ordersprod.abc123.c2", 9096), "sasl_scram", "t5PZv2LgS4qYc1Fh7nJx0A", 4,
        [{"id": i, "host": f"b-{i}.ordersprod.abc123.c2.kafka.{REGION}.amazonaws.com", "port": 9096,
          "rack": azs[(i - 1) % 3]} for i in brokers],
        "3.6.0", "2026-11-15T09:13:40Z", topics, acls, groups, msk_arn=orders["arn"])
    return {
        "schema_version": 2,
        "created_at": "2026-11-15T09:12:44Z",
        "updated_at": "2026-11-15T09:14:02Z",
        "written_by": {"name": "kcp", "version": "0.1.0"},
        "msk_regions": {REGION: region},
        "clusters": {"orders-prod": scanned},
    }


# ---------------------------------------------------------------- self-managed.json


def self_managed():
    brokers = [1, 2, 3]
    # Message counts over the 10 s rate window, per topic.
    window = {
        "orders": 18_403, "customers": 126, "payments.settled": 950, "documents.scanned": 8,
        "legacy.audit-2019": 0, "__consumer_offsets": 1_377, "__transaction_state": 402,
        "dc2.checkpoints.internal": 4, "dc2.heartbeats": 2, "dc2.payments.settled": 511, "heartbeats": 2,
        "mm2-configs.dc2.internal": 0, "mm2-offset-syncs.dc2.internal": 31, "mm2-offsets.dc2.internal": 19,
        "mm2-status.dc2.internal": 0,
        "billing-app-KSTREAM-AGGREGATE-STATE-STORE-0000000003-changelog": 4_020,
        "billing-app-KSTREAM-AGGREGATE-0000000003-repartition": 18_377,
        "connect-configs": 0, "connect-offsets": 3, "connect-status": 0,
    }

    orders_latest = spread(1_842_220_113, 0, 12, 21, 3_100_000)
    orders_earliest = [lat - 92_740_000 - int(400_000 * (noise(p, 22) + 1)) for p, lat in enumerate(orders_latest)]
    orders_sizes = [int((lat - ear) * 452.7) for lat, ear in zip(orders_latest, orders_earliest)]
    # Broker 3 fell behind on one busy partition: out of the ISR, and the
    # preferred leader (3) is not the leader.
    orders_under_replicated = {5: {"leader": 1, "isr": [1, 2]}}
    payments_latest = spread(96_118_204, 0, 6, 23, 240_000)
    payments_earliest = [lat - 24_600_000 - int(90_000 * (noise(p, 24) + 1)) for p, lat in enumerate(payments_latest)]
    mirrored_latest = spread(31_004_771, 0, 6, 25, 120_000)
    mirrored_earliest = [lat - 13_100_000 - int(60_000 * (noise(p, 26) + 1)) for p, lat in enumerate(mirrored_latest)]
    docs_latest = [88_412, 88_390, 88_455]
    docs_earliest = [61_020, 60_998, 61_101]
    docs_sizes = [int((lat - ear) * 1_930_000) for lat, ear in zip(docs_latest, docs_earliest)]
    offsets_latest = [2_118 + 41 * p for p in range(50)]
    offsets_latest[3] = 1_120_448_907  # billing-app's coordinator partition
    offsets_latest[12] = 388_215_606  # orders-processor's
    offsets_latest[27] = 9_884_210  # payments-reconciler's
    txn_latest = [0] * 50
    txn_latest[9] = 318_220_114  # the transactional ids of billing-app's two stream threads
    txn_latest[41] = 317_904_877
    streams_repartition_latest = spread(402_117_880, 0, 12, 27, 900_000)
    # Kafka Streams purges a repartition topic up to what it committed.
    streams_repartition_earliest = [lat - 1_800 - int(300 * (noise(p, 28) + 1))
                                    for p, lat in enumerate(streams_repartition_latest)]
    changelog_latest = spread(88_004_120, 0, 12, 29, 400_000)

    def t(kind, name, parts, configs):
        return topic(kind, parts, configs, rate(window[name]))

    compact_internal = {"cleanup.policy": cfg("compact", "dynamic_topic")}
    defaults = {
        "compression.type": cfg("producer", "default"),
        "max.message.bytes": cfg("1048588", "default"),
        "min.insync.replicas": cfg("2", "static_broker"),
        "unclean.leader.election.enable": cfg("false", "default"),
    }
    names = {}
    names["orders"] = t("user", "orders", partitions(12, brokers, orders_latest, orders_earliest, orders_sizes,
                                                      orders_under_replicated), {
        **defaults,
        "cleanup.policy": cfg("delete", "dynamic_topic"),
        "retention.ms": cfg("604800000", "dynamic_topic"),
        "segment.bytes": cfg("1073741824", "default"),
        "message.timestamp.type": cfg("CreateTime", "default"),
    })
    names["customers"] = t("user", "customers", partitions(6, brokers, spread(2_004_117, 0, 6, 30, 9_000), [0] * 6), {
        **defaults,
        "cleanup.policy": cfg("compact", "dynamic_topic"),
        "min.compaction.lag.ms": cfg("3600000", "dynamic_topic"),
        "delete.retention.ms": cfg("86400000", "default"),
    })
    names["payments.settled"] = t("user", "payments.settled", partitions(6, brokers, payments_latest,
                                                                         payments_earliest), {
        **defaults,
        "cleanup.policy": cfg("delete", "default"),
        "retention.ms": cfg("2592000000", "dynamic_topic"),
    })
    names["documents.scanned"] = t("user", "documents.scanned", partitions(3, brokers, docs_latest, docs_earliest,
                                                                           docs_sizes), {
        **defaults,
        "cleanup.policy": cfg("delete", "default"),
        "max.message.bytes": cfg("5242880", "dynamic_topic"),
        "retention.ms": cfg("1209600000", "dynamic_topic"),
    })
    names["legacy.audit-2019"] = t("user", "legacy.audit-2019", partitions(3, brokers, [41_002, 40_877, 41_100],
                                                                           [0] * 3, [18_245_890, 18_190_265, 18_289_500]), {
        **defaults,
        "cleanup.policy": cfg("delete", "default"),
        "retention.ms": cfg("-1", "dynamic_topic"),
    })
    names["__consumer_offsets"] = t("internal", "__consumer_offsets", partitions(50, brokers, offsets_latest,
                                                                                 [0] * 50), {
        "cleanup.policy": cfg("compact", "dynamic_topic"),
        "compression.type": cfg("producer", "dynamic_topic"),
        "min.insync.replicas": cfg("2", "static_broker"),
        "segment.bytes": cfg("104857600", "dynamic_topic"),
    })
    names["__transaction_state"] = t("internal", "__transaction_state", partitions(50, brokers, txn_latest, [0] * 50), {
        "cleanup.policy": cfg("compact", "dynamic_topic"),
        "compression.type": cfg("uncompressed", "dynamic_topic"),
        "min.insync.replicas": cfg("2", "dynamic_topic"),
        "segment.bytes": cfg("104857600", "dynamic_topic"),
        "unclean.leader.election.enable": cfg("false", "dynamic_topic"),
    })
    # MirrorMaker 2, active-active with dc2. This cluster is the source of
    # dc1->dc2 (offset syncs) and the target of dc2->dc1, whose dedicated MM2
    # workers keep their Connect topics here.
    names["mm2-offset-syncs.dc2.internal"] = t("mirror_maker2", "mm2-offset-syncs.dc2.internal",
                                               partitions(1, brokers, [77_120_554], [0]), compact_internal)
    names["dc2.checkpoints.internal"] = t("mirror_maker2", "dc2.checkpoints.internal",
                                          partitions(1, brokers, [12_884_310], [0]), compact_internal)
    names["heartbeats"] = t("mirror_maker2", "heartbeats", partitions(1, brokers, [1_209_600], [0]), compact_internal)
    names["dc2.heartbeats"] = t("mirror_maker2", "dc2.heartbeats", partitions(1, brokers, [1_208_950], [0]),
                                compact_internal)
    names["mm2-configs.dc2.internal"] = t("mirror_maker2", "mm2-configs.dc2.internal",
                                          partitions(1, brokers, [61], [0]), compact_internal)
    names["mm2-offsets.dc2.internal"] = t("mirror_maker2", "mm2-offsets.dc2.internal",
                                          partitions(25, brokers, spread(40_112, 0, 25, 31, 20_000), [0] * 25),
                                          compact_internal)
    names["mm2-status.dc2.internal"] = t("mirror_maker2", "mm2-status.dc2.internal",
                                         partitions(5, brokers, [214, 198, 221, 187, 203], [0] * 5), compact_internal)
    names["dc2.payments.settled"] = t("user", "dc2.payments.settled", partitions(6, brokers, mirrored_latest,
                                                                                 mirrored_earliest), {
        **defaults,
        "cleanup.policy": cfg("delete", "dynamic_topic"),
        "retention.ms": cfg("2592000000", "dynamic_topic"),
    })
    # Kafka Streams (billing-app, exactly-once v2).
    changelog = "billing-app-KSTREAM-AGGREGATE-STATE-STORE-0000000003-changelog"
    repartition = "billing-app-KSTREAM-AGGREGATE-0000000003-repartition"
    names[changelog] = t("kafka_streams", changelog, partitions(12, brokers, changelog_latest, [0] * 12), {
        "cleanup.policy": cfg("compact", "dynamic_topic"),
        "message.timestamp.type": cfg("CreateTime", "dynamic_topic"),
        "min.insync.replicas": cfg("2", "static_broker"),
    })
    names[repartition] = t("kafka_streams", repartition, partitions(12, brokers, streams_repartition_latest,
                                                                    streams_repartition_earliest), {
        "cleanup.policy": cfg("delete", "dynamic_topic"),
        "message.timestamp.type": cfg("CreateTime", "dynamic_topic"),
        "min.insync.replicas": cfg("2", "static_broker"),
        "retention.ms": cfg("-1", "dynamic_topic"),
        "segment.bytes": cfg("52428800", "dynamic_topic"),
    })
    # Kafka Connect (the `connect-cluster` group of User:connect).
    names["connect-configs"] = t("connect", "connect-configs", partitions(1, brokers, [58], [0]), compact_internal)
    names["connect-offsets"] = t("connect", "connect-offsets", partitions(25, brokers, spread(400, 0, 25, 32, 300),
                                                                          [0] * 25), compact_internal)
    names["connect-status"] = t("connect", "connect-status", partitions(5, brokers, [91, 88, 93, 90, 87], [0] * 5),
                                compact_internal)
    assert set(names) == set(window)
    topics = names

    acls = [
        acl("topic", "orders", "literal", "User:orders-service", "write"),
        acl("topic", "orders", "literal", "User:orders-service", "read"),
        acl("topic", "orders", "literal", "User:billing-app", "read"),
        acl("topic", "billing-app-", "prefixed", "User:billing-app", "all"),
        acl("topic", "payments.settled", "literal", "User:billing-app", "write"),
        acl("topic", "customers", "literal", "User:connect", "write"),
        acl("topic", "connect-", "prefixed", "User:connect", "all"),
        acl("topic", "*", "literal", "User:mm2", "read"),
        # Customer data never leaves dc1, whatever the wildcard above says.
        acl("topic", "customers", "literal", "User:mm2", "read", "deny"),
        acl("topic", "dc2.", "prefixed", "User:mm2", "all"),
        acl("topic", "mm2-", "prefixed", "User:mm2", "all"),
        acl("topic", "heartbeats", "literal", "User:mm2", "write"),
        acl("group", "orders-processor", "literal", "User:orders-service", "read"),
        acl("group", "billing-app", "literal", "User:billing-app", "read"),
        acl("group", "connect-", "prefixed", "User:connect", "read"),
        acl("group", "dc2-mm2", "literal", "User:mm2", "read"),
        acl("cluster", "kafka-cluster", "literal", "User:orders-service", "idempotent_write"),
        acl("cluster", "kafka-cluster", "literal", "User:mm2", "describe"),
        acl("transactional_id", "billing-app-", "prefixed", "User:billing-app", "write"),
    ]

    streams_1 = "billing-app-3c9e8f0a-1b2c-4d5e-8f90-a1b2c3d4e5f6-StreamThread-1-consumer"
    streams_2 = "billing-app-b71d02e4-9a8c-4f3e-a5d6-0e1f2a3b4c5d-StreamThread-1-consumer"
    groups = {
        "orders-processor": group("Stable", "consumer", "range", [
            member("consumer-orders-processor-1-2f8c1d3e-4b5a-4c6d-9e7f-8a9b0c1d2e3f", "consumer-orders-processor-1",
                   "/10.1.3.10", [("orders", p) for p in range(6)]),
            member("consumer-orders-processor-1-c4d5e6f7-0819-4a2b-8c3d-4e5f6a7b8c9d", "consumer-orders-processor-1",
                   "/10.1.3.11", [("orders", p) for p in range(6, 12)]),
        ], {("orders", p): orders_latest[p] - int(25 * (noise(p, 40) + 1)) for p in range(12)}, topics),
        # Kafka Streams speaks the consumer protocol with its own assignor.
        "billing-app": group("Stable", "consumer", "stream", [
            member(streams_1 + "-5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9", streams_1, "/10.1.4.21",
                   [(name, p) for name in ("orders", repartition) for p in range(0, 12, 2)]),
            member(streams_2 + "-0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", streams_2, "/10.1.4.22",
                   [(name, p) for name in ("orders", repartition) for p in range(1, 12, 2)]),
        ], {
            **{("orders", p): orders_latest[p] - int(150 * (noise(p, 41) + 1)) for p in range(12)},
            **{(repartition, p): streams_repartition_latest[p] - int(90 * (noise(p, 42) + 1)) for p in range(12)},
        }, topics),
        # Stopped three days ago: no members, no assignor, offsets still there.
        "payments-reconciler": group("Empty", "consumer", None, [], {
            ("payments.settled", p): payments_latest[p] - 2_460_000 - int(20_000 * (noise(p, 43) + 1))
            for p in range(6)}, topics),
        # The Connect group of the dc2->dc1 MirrorMaker 2 workers: members are
        # workers, assignments are connectors and tasks (not partitions), and
        # no offsets are committed (they are in mm2-offsets.dc2.internal).
        "dc2-mm2": group("Stable", "connect", "sessioned", [
            member("connect-1-8f6e2b1a-3c4d-4e5f-9a0b-1c2d3e4f5a6b", "connect-1", "/10.1.9.3", []),
            member("connect-2-1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d", "connect-2", "/10.1.9.4", []),
        ], {}, topics),
    }
    for g in groups.values():
        for m in g["members"]:
            assert all(a["topic"] in topics for a in m["assignments"])

    cluster = kafka_cluster(
        [f"kafka-{i}.dc1.example.internal:9092" for i in brokers], "sasl_scram", "Xk3v9QzvT9mJ8fYtq1wA2w", 2,
        [{"id": i, "host": f"kafka-{i}.dc1.example.internal", "port": 9092, "rack": f"rack-{'abc'[i - 1]}"}
         for i in brokers],
        "3.7.1", "2026-11-20T14:02:11Z", topics, acls, groups,
        notes="Primary DC1 cluster. MM2 runs active-active with dc2; retire it after the cutover.")
    return {
        "schema_version": 2,
        "created_at": "2026-11-20T08:30:02Z",
        "updated_at": "2026-11-20T14:02:24Z",
        "written_by": {"name": "kcp", "version": "0.1.0"},
        "clusters": {"onprem-prod": cluster},
    }


def write(out, name, doc):
    (out / name).write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    out = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else HERE
    write(out, "msk-region.json", msk_region())
    write(out, "self-managed.json", self_managed())
