"""A CloudWatch protocol shim in front of moto.

    python testbed/cw_cbor_shim.py PORT UPSTREAM_URL
    python testbed/cw_cbor_shim.py 0 http://127.0.0.1:5000   # PORT 0: pick a free port

Why: the Rust AWS SDK's CloudWatch client speaks Smithy RPC-v2 CBOR
(`POST /service/GraniteServiceVersion20100801/operation/<Op>` with a CBOR
body), which moto does not serve. moto does serve CloudWatch's JSON 1.0
protocol, so this shim translates between the two:

  request   CBOR -> Python (tag-1 datetimes become epoch seconds) -> JSON,
            POSTed to moto's `/` with `X-Amz-Target: GraniteServiceVersion20100801.<Op>`;
            the caller's other headers (Authorization above all: moto picks the
            service and region from its credential scope) go along.
  response  JSON -> Python, typed by botocore's CloudWatch output shape for
            <Op> -> CBOR: timestamps as tag 1 around float epoch seconds,
            numbers in `double` members as floats (the Rust SDK's decoder
            refuses CBOR integers in both places), blobs as byte strings.
  errors    the upstream status, with a CBOR map {"__type", "message"};
            an operation CloudWatch lacks gets 404 UnknownOperationException.

Every other request (any method, any path: MSK, Cost Explorer, STS,
`/moto-api/...`) is relayed to moto unchanged, so one endpoint serves all
the AWS APIs the tests use.

Once listening, prints `ready <port>` on stdout (one line, flushed) so that a
harness can wait for it and learn the port. Exits with status 0 on SIGTERM
or SIGINT. Set KCP_SHIM_VERBOSE=1 to log each request on stderr.
"""

import base64
import datetime
import email.utils
import http.client
import json
import os
import re
import signal
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import botocore.session
import cbor2

UTC = datetime.timezone.utc

# Smithy RPC-v2 CBOR path of a CloudWatch operation, and the JSON 1.0 target
# prefix moto expects for the same operation.
CBOR_PATH_PREFIX = "/service/GraniteServiceVersion20100801/operation/"
JSON_TARGET_PREFIX = "GraniteServiceVersion20100801."

# Hop-by-hop headers (RFC 9110 section 7.6.1) belong to one connection and are
# never relayed. Content-Length is recomputed for every message we send.
HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
    "te", "trailer", "trailers", "transfer-encoding", "upgrade", "expect", "content-length",
})

# Request headers that describe the CBOR encoding; they are replaced when the
# body is re-encoded as JSON.
CBOR_REQUEST_HEADERS = frozenset({"content-type", "accept", "smithy-protocol", "x-amz-target"})

# Upstream response headers worth keeping on a translated CloudWatch answer.
# `x-amzn-query-error` carries the error code of awsQuery-compatible services.
RELAYED_RESPONSE_HEADERS = frozenset({"x-amzn-requestid", "x-amz-request-id", "x-amzn-query-error"})

# moto routes a request by the credential scope of its SigV4 Authorization
# header. A caller without credentials still gets CloudWatch in us-east-1.
FALLBACK_AUTHORIZATION = ("AWS4-HMAC-SHA256 Credential=test/20000101/us-east-1/monitoring/aws4_request, "
                          "SignedHeaders=host, Signature=0")

VERBOSE = os.environ.get("KCP_SHIM_VERBOSE", "") not in ("", "0")

_CLOUDWATCH = botocore.session.get_session().get_service_model("cloudwatch")
_CLOUDWATCH_OPERATIONS = frozenset(_CLOUDWATCH.operation_names)


# --- CBOR request -> JSON request -------------------------------------------------------------

def cbor_to_json_value(value):
    """Turns a decoded CBOR request into values `json.dumps` accepts, the way
    the JSON 1.0 protocol writes them: timestamps as epoch seconds, blobs as
    base64 text."""
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:  # CBOR tag 1 decodes aware; be safe anyway
            value = value.replace(tzinfo=UTC)
        return value.timestamp()
    if isinstance(value, dict):
        return {str(k): cbor_to_json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [cbor_to_json_value(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise ValueError(f"unsupported CBOR value of type {type(value).__name__}")


# --- JSON response -> CBOR response, typed by the botocore model ------------------------------

def parse_timestamp(value):
    """A JSON timestamp (epoch number, numeric string, ISO 8601 or RFC 822) as an aware datetime."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return datetime.datetime.fromtimestamp(value, tz=UTC)
    if isinstance(value, str):
        text = value.strip()
        try:
            return datetime.datetime.fromtimestamp(float(text), tz=UTC)
        except ValueError:
            pass
        try:
            parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            parsed = email.utils.parsedate_to_datetime(text)  # raises if not RFC 822 either
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return value


def epoch_seconds_tag(when):
    """A timestamp as the Rust SDK reads it: CBOR tag 1 around a *float*.

    cbor2's `datetime_as_timestamp=True` writes whole seconds as an integer
    (tag 1 + uint), but the SDK's decoder (aws-smithy-cbor over minicbor)
    reads the tagged value with `f64()`, which accepts only CBOR floats. CloudWatch
    datapoints sit on whole seconds, so every timestamp is tagged by hand here.
    """
    if not isinstance(when, datetime.datetime):
        return when
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return cbor2.CBORTag(1, float(when.timestamp()))


def json_to_cbor_value(value, shape):
    """Retypes a JSON answer for CBOR, walking the botocore shape alongside it.

    JSON loses distinctions a CBOR reader cares about: the Rust SDK wants
    tag-1 float timestamps for `timestamp` members, floats (not integers)
    for `double` members, and byte strings for `blob` members. Members absent
    from the model are passed through as they are; nulls are dropped.
    """
    if shape is None or value is None:
        return value
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        return {name: json_to_cbor_value(member, shape.members.get(name))
                for name, member in value.items() if member is not None}
    if kind == "list" and isinstance(value, list):
        return [json_to_cbor_value(item, shape.member) for item in value]
    if kind == "map" and isinstance(value, dict):
        return {key: json_to_cbor_value(item, shape.value) for key, item in value.items() if item is not None}
    if kind == "timestamp":
        return epoch_seconds_tag(parse_timestamp(value))
    if kind in ("double", "float") and isinstance(value, (int, float, str)) and not isinstance(value, bool):
        return float(value)
    if kind in ("integer", "long") and isinstance(value, (str, float)):
        return int(float(value))
    if kind == "boolean" and isinstance(value, str):
        return value.lower() == "true"
    if kind == "blob" and isinstance(value, str):
        return base64.b64decode(value)
    return value


def error_fields(status, body):
    """(`__type`, `message`) of a failed upstream answer, JSON or XML."""
    text = body.decode("utf-8", errors="replace")
    try:
        decoded = json.loads(text)
    except ValueError:
        decoded = None
    if isinstance(decoded, dict):
        kind = decoded.get("__type") or decoded.get("code") or decoded.get("Code")
        message = decoded.get("message") or decoded.get("Message") or ""
    else:  # XML (query protocol) errors, or an HTML error page
        code = re.search(r"<Code>([^<]*)</Code>", text)
        found = re.search(r"<Message>([^<]*)</Message>", text)
        kind = code.group(1) if code else None
        # Failing that, the page's text without its markup.
        message = found.group(1) if found else " ".join(re.sub(r"<[^>]*>", " ", text).split())[:500]
    if not kind:
        kind = {404: "UnknownOperationException"}.get(status, "InternalFailure" if status >= 500 else "ClientError")
    return str(kind), str(message)


# --- HTTP ---------------------------------------------------------------------------------------

class ShimHandler(BaseHTTPRequestHandler):
    """Serves one client connection: translates CloudWatch CBOR calls, relays the rest."""

    protocol_version = "HTTP/1.1"  # keep-alive, as the AWS SDKs expect
    server_version = "kcp-cw-cbor-shim"
    upstream = None  # urllib.parse.SplitResult of UPSTREAM_URL, set by main()

    def log_message(self, fmt, *args):
        if VERBOSE:
            sys.stderr.write("cw_cbor_shim: " + (fmt % args) + "\n")

    # Every method goes through the same entry point.
    def do_any(self):
        body = self._read_body()
        path = urllib.parse.urlsplit(self.path).path
        operation = path[len(CBOR_PATH_PREFIX):] if path.startswith(CBOR_PATH_PREFIX) else ""
        if self.command == "POST" and operation and "/" not in operation:
            self._translate_cbor_call(operation, body)
        else:
            self._relay(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = do_any

    def _read_body(self):
        """The request body, de-chunked if the client used chunked encoding."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()  # CRLF after each chunk
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _call_upstream(self, method, path, headers, body):
        """One request to moto: returns (status, reason, headers, body)."""
        connection_class = (http.client.HTTPSConnection if self.upstream.scheme == "https"
                            else http.client.HTTPConnection)
        connection = connection_class(self.upstream.hostname, self.upstream.port, timeout=120)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.reason, response.getheaders(), response.read()
        finally:
            connection.close()

    def _send(self, status, reason, headers, body, keep_length=False):
        """Writes a response. `keep_length`: relay the upstream Content-Length
        (a HEAD answer has one but no body)."""
        self.log_request(status)
        self.send_response_only(status, reason)
        length = None
        for name, value in headers:
            lowered = name.lower()
            if lowered == "content-length":
                length = value
            if lowered not in HOP_BY_HOP:
                self.send_header(name, value)
        if self.command == "HEAD" and keep_length and length is not None:
            self.send_header("Content-Length", length)
        elif status >= 200 and status not in (204, 304):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _relay(self, body):
        """Forwards the request to moto as it came, and its answer back as it came."""
        headers = [(k, v) for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP]
        try:
            status, reason, answer_headers, answer = self._call_upstream(
                self.command, self.path, dict_with_duplicates(headers), body)
        except OSError as err:
            self._send(502, "Bad Gateway", [("Content-Type", "text/plain")], f"upstream: {err}\n".encode())
            return
        self._send(status, reason, answer_headers, answer, keep_length=True)

    def _translate_cbor_call(self, operation, body):
        """A CloudWatch RPC-v2 CBOR call, answered through moto's JSON 1.0 protocol."""
        if operation not in _CLOUDWATCH_OPERATIONS:
            # moto would answer an HTML 500; RPC-v2 says 404 UnknownOperationException.
            self._send_cbor(404, {"__type": "UnknownOperationException",
                                  "message": f"CloudWatch has no operation {operation!r}"})
            return
        try:
            request = cbor_to_json_value(cbor2.loads(body)) if body else {}
            if not isinstance(request, dict):
                raise ValueError("the request body is not a CBOR map")
        except Exception as err:  # noqa: BLE001 - any decoding failure is the caller's
            self._send_cbor(400, {"__type": "SerializationException", "message": f"bad CBOR request: {err}"})
            return

        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in HOP_BY_HOP and k.lower() not in CBOR_REQUEST_HEADERS}
        headers["Content-Type"] = "application/x-amz-json-1.0"
        headers["X-Amz-Target"] = JSON_TARGET_PREFIX + operation
        if not any(k.lower() == "authorization" for k in headers):
            headers["Authorization"] = FALLBACK_AUTHORIZATION
        try:
            status, _, answer_headers, answer = self._call_upstream("POST", "/", headers, json.dumps(request).encode())
        except OSError as err:
            self._send_cbor(502, {"__type": "ServiceUnavailable", "message": f"upstream: {err}"})
            return
        relayed = [(k, v) for k, v in answer_headers if k.lower() in RELAYED_RESPONSE_HEADERS]

        if status >= 300:
            kind, message = error_fields(status, answer)
            self._send_cbor(status, {"__type": kind, "message": message}, relayed)
            return
        try:
            decoded = json.loads(answer) if answer.strip() else {}
            out = json_to_cbor_value(decoded, _CLOUDWATCH.operation_model(operation).output_shape)
        except Exception as err:  # noqa: BLE001
            text = answer.decode("utf-8", errors="replace")[:300]
            self._send_cbor(502, {"__type": "InternalFailure", "message": f"unreadable upstream answer ({err}): {text}"})
            return
        self._send_cbor(status, out, relayed)

    def _send_cbor(self, status, payload, extra_headers=()):
        body = cbor2.dumps(payload, datetime_as_timestamp=True, timezone=UTC)
        headers = [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor"), *extra_headers]
        self._send(status, None, headers, body)


def dict_with_duplicates(pairs):
    """Header pairs as the dict http.client wants; repeated names are joined with commas."""
    merged = {}
    for name, value in pairs:
        merged[name] = f"{merged[name]}, {value}" if name in merged else value
    return merged


class ShimServer(ThreadingHTTPServer):
    daemon_threads = True  # open keep-alive connections must not delay exit

    def handle_error(self, request, client_address):
        # A client hanging up mid-answer is routine; anything else is reported.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def main(argv):
    if len(argv) != 2 or not argv[0].isdigit():
        sys.stderr.write(__doc__)
        return 2
    upstream = urllib.parse.urlsplit(argv[1])
    if upstream.scheme not in ("http", "https") or not upstream.hostname:
        sys.stderr.write(f"cw_cbor_shim: bad UPSTREAM_URL {argv[1]!r}\n")
        return 2
    ShimHandler.upstream = upstream

    server = ShimServer(("127.0.0.1", int(argv[0])), ShimHandler)  # bound and listening from here

    def stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"ready {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except SystemExit:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
