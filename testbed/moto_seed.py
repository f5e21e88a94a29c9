"""Seeds a running moto with MSK clusters, CloudWatch datapoints and Cost
Explorer results, for `kcp discover` tests and its benchmark.

    python moto_seed.py ENDPOINT --region us-east-1:2:1 --region eu-west-1:1:1 [--hours 6] [--costs]

`REGION:P:S` creates P provisioned and S serverless clusters in REGION.
Prints one JSON line: {"clusters": {region: [arn, ...]}, "costs_total": x}.
"""

import argparse
import datetime
import json
import urllib.request

import boto3


def client(svc, endpoint, region):
    return boto3.client(svc, endpoint_url=endpoint, region_name=region,
                        aws_access_key_id="test", aws_secret_access_key="test")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("endpoint")
    ap.add_argument("--region", action="append", required=True)
    ap.add_argument("--hours", type=int, default=6)
    ap.add_argument("--costs", action="store_true")
    ap.add_argument("--metrics-every", type=int, default=1,
                    help="datapoints for every Nth cluster only (moto's GetMetricData scans every stored point per query)")
    args = ap.parse_args()
    now = datetime.datetime.now(datetime.timezone.utc).replace(minute=0, second=0, microsecond=0)
    out = {"clusters": {}, "costs_total": 0.0}
    for spec in args.region:
        region, provisioned, serverless = spec.split(":")
        kafka = client("kafka", args.endpoint, region)
        cw = client("cloudwatch", args.endpoint, region)
        subnets = [s["SubnetId"] for s in client("ec2", args.endpoint, region).describe_subnets()["Subnets"]][:3]
        arns = out["clusters"].setdefault(region, [])
        for i in range(int(provisioned)):
            name = f"prov-{region}-{i}"
            arns.append(kafka.create_cluster_v2(
                ClusterName=name,
                Provisioned={
                    "BrokerNodeGroupInfo": {"InstanceType": "kafka.m5.large", "ClientSubnets": subnets,
                                            "StorageInfo": {"EbsStorageInfo": {"VolumeSize": 500}}},
                    "KafkaVersion": "3.6.0", "NumberOfBrokerNodes": 3},
                Tags={"team": "data", "index": str(i)})["ClusterArn"])
            data = []
            for broker in ((1, 2, 3) if i % args.metrics_every == 0 else ()):
                dims = [{"Name": "Cluster Name", "Value": name}, {"Name": "Broker ID", "Value": str(broker)}]
                for h in range(1, args.hours + 1):
                    t = now - datetime.timedelta(hours=h)
                    data.append({"MetricName": "BytesInPerSec", "Dimensions": dims, "Timestamp": t, "Value": 1000.0 * broker})
                    data.append({"MetricName": "KafkaDataLogsDiskUsed", "Dimensions": dims, "Timestamp": t, "Value": 10.0})
            for k in range(0, len(data), 500):
                cw.put_metric_data(Namespace="AWS/Kafka", MetricData=data[k:k + 500])
        for i in range(int(serverless)):
            name = f"sls-{region}-{i}"
            arns.append(kafka.create_cluster_v2(
                ClusterName=name, Serverless={"VpcConfigs": [{"SubnetIds": subnets}]})["ClusterArn"])
            for topic in (("clicks", "views") if i % args.metrics_every == 0 else ()):
                cw.put_metric_data(Namespace="AWS/Kafka", MetricData=[{
                    "MetricName": "BytesInPerSec",
                    "Dimensions": [{"Name": "Cluster Name", "Value": name}, {"Name": "Topic", "Value": topic}],
                    "Timestamp": now - datetime.timedelta(hours=h), "Value": 42.0} for h in range(1, args.hours + 1)])
    if args.costs:
        # One canned GetCostAndUsage answer per region (moto hands them out in order).
        results = []
        day = (now - datetime.timedelta(days=2)).date()
        for _ in args.region:
            groups = [{"Keys": ["Amazon Managed Streaming for Apache Kafka", "USE1-Kafka.m5.large"],
                       "Metrics": {m: {"Amount": "12.5", "Unit": "USD"} for m in
                                   ("AmortizedCost", "BlendedCost", "NetAmortizedCost", "NetUnblendedCost", "UnblendedCost")}}]
            results.append({"ResultsByTime": [{"TimePeriod": {"Start": str(day), "End": str(day + datetime.timedelta(days=1))},
                                               "Total": {}, "Groups": groups, "Estimated": False}]})
            out["costs_total"] += 12.5
        req = urllib.request.Request(args.endpoint.rstrip("/") + "/moto-api/static/ce/cost-and-usage-results",
                                     data=json.dumps({"results": results}).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req).read()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
