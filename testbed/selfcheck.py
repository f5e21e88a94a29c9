"""Checks the AWS side of the test bed: moto (MSK timestamp wrapper) behind the CloudWatch CBOR shim.

    $KCP_TESTBED_PYTHON testbed/selfcheck.py                          # starts and stops its own servers
    $KCP_TESTBED_PYTHON testbed/selfcheck.py --endpoint http://127.0.0.1:PORT   # uses a running shim

It talks to the shim the way the CLI's Rust clients will:
1. MSK (relayed unchanged): CreateClusterV2 and ListClustersV2 through boto3;
   the raw JSON `creationTime` must end in a UTC offset (the wrapper's job).
2. CloudWatch as Smithy RPC-v2 CBOR, built by hand exactly as the Rust SDK
   sends it: PutMetricData, then GetMetricData must come back as CBOR with
   float values and tag-1 (epoch) timestamps. A failing call must come back
   as a CBOR error map.
3. Cost Explorer: results injected through `/moto-api/static/ce/...` come
   back from GetCostAndUsage.
With its own servers it also checks that the shim exits with status 0 on
SIGTERM. Prints one summary line (`selfcheck ok: ...`) and exits 0, or prints
`selfcheck FAILED: ...` and exits 1.
"""

import argparse
import collections
import contextlib
import datetime
import http.client
import json
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid

import boto3
import cbor2

HERE = os.path.dirname(os.path.abspath(__file__))
UTC = datetime.timezone.utc
REGION = "us-east-1"
# A SigV4 header as an SDK would send it; moto only reads the credential
# scope (service and region) and does not check the signature.
FAKE_AUTHORIZATION = ("AWS4-HMAC-SHA256 Credential=test/20261125/us-east-1/{service}/aws4_request, "
                      "SignedHeaders=host, Signature=abc")
CBOR_PATH = "/service/GraniteServiceVersion20100801/operation/{}"


class CheckFailed(Exception):
    pass


def check(condition, message):
    if not condition:
        raise CheckFailed(message)


# --- A strict CBOR reader --------------------------------------------------------------------
# cbor2 turns both tag 0 (text) and tag 1 (epoch) timestamps into datetimes and
# may hide whether a number was sent as an integer or a float. The Rust SDK
# cares about both, so the answers are also read with this small decoder,
# which keeps tags (as Tagged) and integer/float types as they were on the wire.

Tagged = collections.namedtuple("Tagged", "tag value")
_BREAK = 0xFF


def read_cbor(data):
    value, end = _read_item(data, 0)
    check(end == len(data), f"{len(data) - end} trailing bytes after the CBOR item")
    return value


def _read_argument(data, pos, info):
    if info < 24:
        return info, pos
    if info == 31:
        return None, pos  # indefinite length
    size = {24: 1, 25: 2, 26: 4, 27: 8}[info]
    return int.from_bytes(data[pos:pos + size], "big"), pos + size


def _read_item(data, pos):
    major, info = data[pos] >> 5, data[pos] & 0x1F
    pos += 1
    if major == 7:  # floats and simple values
        if info in (25, 26, 27):
            size, fmt = {25: (2, ">e"), 26: (4, ">f"), 27: (8, ">d")}[info]
            return struct.unpack(fmt, data[pos:pos + size])[0], pos + size
        simple = {20: False, 21: True, 22: None, 23: None}
        if info not in simple:
            raise CheckFailed(f"unexpected CBOR simple value {info}")
        return simple[info], pos
    arg, pos = _read_argument(data, pos, info)
    if major == 0:
        return arg, pos
    if major == 1:
        return -1 - arg, pos
    if major in (2, 3):  # byte string, text string
        if arg is None:
            chunks = []
            while data[pos] != _BREAK:
                chunk, pos = _read_item(data, pos)
                chunks.append(chunk)
            return (b"" if major == 2 else "").join(chunks), pos + 1
        raw = data[pos:pos + arg]
        return (bytes(raw) if major == 2 else raw.decode("utf-8")), pos + arg
    if major in (4, 5):  # array, map (a map is read as key, value, key, value, ...)
        items = []
        remaining = None if arg is None else arg * (1 if major == 4 else 2)
        while (data[pos] != _BREAK) if remaining is None else remaining > 0:
            item, pos = _read_item(data, pos)
            items.append(item)
            if remaining is not None:
                remaining -= 1
        if remaining is None:
            pos += 1  # the break byte
        return (items if major == 4 else dict(zip(items[0::2], items[1::2]))), pos
    if major == 6:
        inner, pos = _read_item(data, pos)
        return Tagged(arg, inner), pos
    raise CheckFailed(f"bad CBOR major type {major}")


# --- Servers ----------------------------------------------------------------------------------

def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def own_servers(log_dir):
    """Starts moto (through the tz wrapper) and the shim on free ports;
    yields the shim's endpoint. On the way out the shim must stop cleanly on
    SIGTERM; moto is terminated."""
    python = sys.executable
    moto_port = free_port()
    moto_log = open(os.path.join(log_dir, "moto.log"), "wb")
    moto = subprocess.Popen([python, os.path.join(HERE, "moto_tz_server.py"), "-H", "127.0.0.1", "-p", str(moto_port)],
                            stdin=subprocess.DEVNULL, stdout=moto_log, stderr=subprocess.STDOUT)
    shim = None
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", moto_port), timeout=1):
                break
            check(moto.poll() is None, f"moto exited with {moto.returncode}, see {moto_log.name}")
            check(time.monotonic() < deadline, f"moto did not open port {moto_port}")
            time.sleep(0.05)
        shim = subprocess.Popen([python, os.path.join(HERE, "cw_cbor_shim.py"), "0", f"http://127.0.0.1:{moto_port}"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=moto_log)
        line = shim.stdout.readline().decode().strip()
        match = re.fullmatch(r"ready (\d+)", line)
        check(match, f"shim printed {line!r} instead of 'ready <port>'")
        yield f"http://127.0.0.1:{match.group(1)}"
        shim.terminate()  # SIGTERM
        try:
            code = shim.wait(timeout=10)
        except subprocess.TimeoutExpired:
            raise CheckFailed("the shim did not exit within 10 s of SIGTERM") from None
        check(code == 0, f"the shim exited with {code} on SIGTERM")
    finally:
        for proc in (shim, moto):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
        moto_log.close()


# --- Checks -----------------------------------------------------------------------------------

def http_call(endpoint, method, path, body=None, headers=None):
    """(status, headers as a lowercase dict, body) of one plain HTTP request."""
    url = urllib.parse.urlsplit(endpoint)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def cbor_call(endpoint, operation, payload):
    """A CloudWatch call as the Rust SDK (RPC-v2 CBOR) sends it."""
    body = cbor2.dumps(payload, datetime_as_timestamp=True, timezone=UTC)  # timestamps as tag 1
    status, headers, answer = http_call(endpoint, "POST", CBOR_PATH.format(operation), body, {
        "smithy-protocol": "rpc-v2-cbor",
        "Content-Type": "application/cbor",
        "Accept": "application/cbor",
        "Authorization": FAKE_AUTHORIZATION.format(service="monitoring"),
        "X-Amz-Date": "20261125T000000Z",
    })
    check(headers.get("smithy-protocol") == "rpc-v2-cbor", f"{operation}: no smithy-protocol header: {headers}")
    check(headers.get("content-type") == "application/cbor", f"{operation}: content-type {headers.get('content-type')}")
    return status, answer


def check_msk(session, endpoint, tag):
    kafka = session.client("kafka", endpoint_url=endpoint)
    raw = []
    kafka.meta.events.register("after-call.kafka.ListClustersV2",
                               lambda http_response, **_: raw.append(http_response.content))
    name = f"selfcheck-{tag}"
    kafka.create_cluster_v2(ClusterName=name, Provisioned={
        "BrokerNodeGroupInfo": {"InstanceType": "kafka.m5.large", "ClientSubnets": ["subnet-a", "subnet-b"]},
        "KafkaVersion": "3.6.0", "NumberOfBrokerNodes": 2})
    parsed = kafka.list_clusters_v2(ClusterNameFilter=name)["ClusterInfoList"]
    check(len(parsed) == 1, f"ListClustersV2 found {len(parsed)} clusters named {name}")
    listed = [c for c in json.loads(raw[-1])["clusterInfoList"] if c["clusterName"] == name]
    created = listed[0]["creationTime"]
    check(re.search(r"(Z|[+-]\d\d:\d\d)$", created), f"MSK creationTime has no UTC offset: {created!r}")
    return created


def check_cloudwatch(endpoint, tag):
    now = datetime.datetime.now(UTC).replace(second=0, microsecond=0)
    dims = [{"Name": "Cluster Name", "Value": f"selfcheck-{tag}"}]
    metrics = {"BytesInPerSec": 104.5, "MessagesInPerSec": 200.0}  # 200.0: an integral double
    status, answer = cbor_call(endpoint, "PutMetricData", {"Namespace": "AWS/Kafka", "MetricData": [
        {"MetricName": name, "Dimensions": dims, "Timestamp": now - datetime.timedelta(minutes=5),
         "Value": value, "Unit": "Count/Second"} for name, value in metrics.items()]})
    check(status == 200, f"PutMetricData answered {status}: {answer[:300]!r}")

    start, end = now - datetime.timedelta(hours=1), now + datetime.timedelta(minutes=5)
    status, answer = cbor_call(endpoint, "GetMetricData", {
        "StartTime": start, "EndTime": end,
        "MetricDataQueries": [{"Id": f"m{i}", "ReturnData": True, "MetricStat": {
            "Metric": {"Namespace": "AWS/Kafka", "MetricName": name, "Dimensions": dims},
            "Period": 300, "Stat": "Average"}} for i, name in enumerate(metrics)]})
    check(status == 200, f"GetMetricData answered {status}: {answer[:300]!r}")
    strict = read_cbor(answer)
    results = {r["Id"]: r for r in strict["MetricDataResults"]}
    for i, expected in enumerate(metrics.values()):
        result = results.get(f"m{i}")
        check(result, f"GetMetricData: no result m{i}: {strict}")
        check(result["Values"] == [expected] and all(type(v) is float for v in result["Values"]),
              f"GetMetricData m{i}: values {result['Values']!r}, want [{expected!r}] as CBOR floats")
        stamps = result["Timestamps"]
        # Tag 1 around a float: the Rust SDK reads the epoch seconds with minicbor's
        # f64(), which refuses a CBOR integer.
        check(len(stamps) == 1 and isinstance(stamps[0], Tagged) and stamps[0].tag == 1
              and type(stamps[0].value) is float,
              f"GetMetricData m{i}: timestamps {stamps!r} are not CBOR tag 1 around a float")
        when = datetime.datetime.fromtimestamp(stamps[0].value, tz=UTC)
        check(start <= when <= end, f"GetMetricData m{i}: timestamp {when} outside the query window")
    # cbor2 (as a generic client) agrees and sees aware datetimes.
    loose = cbor2.loads(answer)["MetricDataResults"][0]["Timestamps"][0]
    check(isinstance(loose, datetime.datetime) and loose.tzinfo is not None, f"cbor2 read {loose!r}")

    # A failing call: the upstream status and a CBOR error map.
    status, answer = cbor_call(endpoint, "DeleteDashboards", {"DashboardNames": [f"missing-{tag}"]})
    error = read_cbor(answer) if answer else {}
    check(status >= 400 and isinstance(error.get("__type"), str) and "message" in error,
          f"DeleteDashboards of a missing dashboard: {status} {error!r}, want a CBOR error map")
    # An operation CloudWatch does not have.
    status, answer = cbor_call(endpoint, "NoSuchOperation", {})
    unknown = read_cbor(answer) if answer else {}
    check(status == 404 and unknown.get("__type") == "UnknownOperationException",
          f"unknown operation: {status} {unknown!r}, want 404 UnknownOperationException")
    return error["__type"]


def check_cost_explorer(session, endpoint):
    canned = {"results": [{"ResultsByTime": [{
        "TimePeriod": {"Start": "2026-11-01", "End": "2026-11-02"},
        "Total": {"UnblendedCost": {"Amount": "1234.56", "Unit": "USD"}},
        "Groups": [], "Estimated": False}]}]}
    status, _, answer = http_call(endpoint, "POST", "/moto-api/static/ce/cost-and-usage-results",
                                  json.dumps(canned).encode(), {"Content-Type": "application/json"})
    check(status == 201 or status == 200, f"CE injection answered {status}: {answer[:300]!r}")
    ce = session.client("ce", endpoint_url=endpoint)
    costs = ce.get_cost_and_usage(TimePeriod={"Start": "2026-11-01", "End": "2026-11-02"},
                                  Granularity="DAILY", Metrics=["UnblendedCost"])
    amount = costs["ResultsByTime"][0]["Total"]["UnblendedCost"]["Amount"]
    check(amount == "1234.56", f"GetCostAndUsage returned {amount!r}, want the injected 1234.56")


def run_checks(endpoint):
    session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name=REGION)
    tag = uuid.uuid4().hex[:8]  # keeps repeated runs against one moto apart
    created = check_msk(session, endpoint, tag)
    error_type = check_cloudwatch(endpoint, tag)
    check_cost_explorer(session, endpoint)
    return (f"MSK creationTime {created}; CloudWatch CBOR PutMetricData/GetMetricData with float values and "
            f"tag-1 timestamps, errors as CBOR ({error_type}); Cost Explorer injection")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", help="a running shim's URL; default: start moto and the shim here")
    endpoint = parser.parse_args().endpoint
    started = time.monotonic()
    log_tail = ""
    try:
        if endpoint:
            summary = run_checks(endpoint.rstrip("/"))
        else:
            with tempfile.TemporaryDirectory(prefix="kcp-selfcheck-") as log_dir:
                try:
                    with own_servers(log_dir) as own_endpoint:
                        summary = run_checks(own_endpoint)
                    summary += "; shim exited 0 on SIGTERM"
                finally:
                    with contextlib.suppress(OSError), open(os.path.join(log_dir, "moto.log"), errors="replace") as log:
                        log_tail = log.read()[-3000:]
    except Exception as err:  # noqa: BLE001 - any failure is reported on one line
        kind = "" if isinstance(err, CheckFailed) else f"{type(err).__name__}: "
        print(f"selfcheck FAILED: {kind}{err}", flush=True)
        if log_tail:
            sys.stderr.write(f"--- end of the moto and shim log ---\n{log_tail}\n")
        return 1
    print(f"selfcheck ok ({time.monotonic() - started:.1f}s): {summary}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
