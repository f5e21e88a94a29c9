"""Checks the AWS side of the test bed: moto behind the CBOR shim.

    python testbed/selfcheck.py --endpoint http://127.0.0.1:PORT

Talks to the shim's endpoint the way our Rust clients will:
1. MSK through boto3 (passed through unchanged): a cluster's creationTime
   must carry a UTC offset (the tz wrapper's job);
2. CloudWatch as Smithy RPC-v2 CBOR, built by hand as the Rust SDK sends it:
   PutMetricData, then GetMetricData must return the values with CBOR
   timestamps;
3. Cost Explorer: canned results injected through moto's API come back.
Exits non-zero with a message on the first failure.
"""

import argparse
import datetime
import json
import sys
import urllib.request

import boto3
import cbor2

UTC = datetime.timezone.utc
# moto picks the service from the credential scope of the signature.
AUTH = "AWS4-HMAC-SHA256 Credential=test/20261125/us-east-1/{}/aws4_request, SignedHeaders=host, Signature=abc"


def cbor_call(endpoint, operation, body):
    req = urllib.request.Request(
        f"{endpoint}/service/GraniteServiceVersion20100801/operation/{operation}",
        data=cbor2.dumps(body, datetime_as_timestamp=True, timezone=UTC),
        method="POST",
        headers={"smithy-protocol": "rpc-v2-cbor", "Content-Type": "application/cbor",
                 "Accept": "application/cbor", "Authorization": AUTH.format("monitoring")},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.headers.get("smithy-protocol") == "rpc-v2-cbor", resp.headers
        return cbor2.loads(resp.read())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    endpoint = parser.parse_args().endpoint.rstrip("/")
    session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")

    # 1. MSK, raw JSON through the shim.
    kafka = session.client("kafka", endpoint_url=endpoint)
    kafka.create_cluster_v2(ClusterName="selfcheck", Provisioned={
        "BrokerNodeGroupInfo": {"InstanceType": "kafka.m5.large", "ClientSubnets": ["subnet-1", "subnet-2"]},
        "KafkaVersion": "3.6.0", "NumberOfBrokerNodes": 2})
    raw = urllib.request.urlopen(urllib.request.Request(
        f"{endpoint}/api/v2/clusters", headers={"Authorization": AUTH.format("kafka")}), timeout=30).read()
    created = json.loads(raw)["clusterInfoList"][0]["creationTime"]
    if not (created.endswith("Z") or "+" in created[10:]):
        sys.exit(f"MSK creationTime has no UTC offset: {created}")

    # 2. CloudWatch over CBOR.
    now = datetime.datetime.now(UTC).replace(microsecond=0)
    cbor_call(endpoint, "PutMetricData", {"Namespace": "AWS/Kafka", "MetricData": [
        {"MetricName": "BytesInPerSec", "Dimensions": [{"Name": "Cluster Name", "Value": "selfcheck"}],
         "Timestamp": now - datetime.timedelta(minutes=5), "Value": 104.5, "Unit": "Bytes/Second"}]})
    out = cbor_call(endpoint, "GetMetricData", {
        "StartTime": now - datetime.timedelta(hours=1), "EndTime": now + datetime.timedelta(minutes=1),
        "MetricDataQueries": [{"Id": "m1", "MetricStat": {"Metric": {
            "Namespace": "AWS/Kafka", "MetricName": "BytesInPerSec",
            "Dimensions": [{"Name": "Cluster Name", "Value": "selfcheck"}]}, "Period": 300, "Stat": "Average"}}]})
    result = out["MetricDataResults"][0]
    if result["Values"] != [104.5] or not isinstance(result["Timestamps"][0], datetime.datetime):
        sys.exit(f"unexpected GetMetricData answer: {out}")

    # 3. Cost Explorer with injected results.
    canned = {"results": [{"ResultsByTime": [{"TimePeriod": {"Start": "2026-11-01", "End": "2026-11-02"},
                                              "Total": {"UnblendedCost": {"Amount": "1234.56", "Unit": "USD"}},
                                              "Groups": [], "Estimated": False}]}]}
    urllib.request.urlopen(urllib.request.Request(
        f"{endpoint}/moto-api/static/ce/cost-and-usage-results", data=json.dumps(canned).encode(),
        method="POST", headers={"Content-Type": "application/json"}), timeout=30).read()
    ce = session.client("ce", endpoint_url=endpoint)
    costs = ce.get_cost_and_usage(TimePeriod={"Start": "2026-11-01", "End": "2026-11-02"},
                                  Granularity="DAILY", Metrics=["UnblendedCost"])
    amount = costs["ResultsByTime"][0]["Total"]["UnblendedCost"]["Amount"]
    if amount != "1234.56":
        sys.exit(f"unexpected GetCostAndUsage answer: {costs}")

    print("selfcheck ok: MSK timestamps are UTC-aware, CloudWatch CBOR round trip, Cost Explorer injection")


if __name__ == "__main__":
    main()
