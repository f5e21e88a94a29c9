"""A CloudWatch protocol shim in front of moto.

    python testbed/cw_cbor_shim.py PORT UPSTREAM_URL

The Rust AWS SDK's CloudWatch client speaks Smithy RPC-v2 CBOR
(`POST /service/GraniteServiceVersion20100801/operation/<Op>`), which moto
does not serve. This shim decodes such requests, forwards them to moto as
JSON 1.0 (`X-Amz-Target: GraniteServiceVersion20100801.<Op>`), and encodes
the answer back to CBOR, typing timestamps and doubles from botocore's
CloudWatch model. Every other request goes to moto unchanged, so one
endpoint serves MSK, Cost Explorer and CloudWatch.

Prints `ready <port>` on stdout once listening (PORT 0 picks a free port).
"""

import datetime
import http.client
import json
import signal
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import botocore.session
import cbor2

PREFIX = "/service/GraniteServiceVersion20100801/operation/"
TARGET = "GraniteServiceVersion20100801"
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
              "transfer-encoding", "upgrade", "host", "content-length"}
UTC = datetime.timezone.utc

_model = botocore.session.get_session().get_service_model("cloudwatch")


def to_json_types(value):
    """CBOR request values → JSON-able values (datetimes become epoch seconds)."""
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp()
    if isinstance(value, dict):
        return {k: to_json_types(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_json_types(v) for v in value]
    if isinstance(value, bytes):
        import base64
        return base64.b64encode(value).decode()
    return value


def to_timestamp(value):
    if isinstance(value, (int, float)):
        return datetime.datetime.fromtimestamp(value, tz=UTC)
    if isinstance(value, str):
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return value


def typed(value, shape):
    """JSON answer values → CBOR values typed by the botocore output shape."""
    if shape is None or value is None:
        return value
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        return {k: typed(v, shape.members.get(k)) for k, v in value.items()}
    if kind == "list" and isinstance(value, list):
        return [typed(v, shape.member) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: typed(v, shape.value) for k, v in value.items()}
    if kind == "timestamp":
        return to_timestamp(value)
    if kind in ("double", "float") and isinstance(value, (int, float)):
        return float(value)
    return value


class Handler(BaseHTTPRequestHandler):
    upstream = None  # set in main()
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # keep test output quiet
        pass

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status, headers, body):
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _forward(self, method, path, headers, body):
        conn = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.getheaders(), resp.read()
        finally:
            conn.close()

    def _cbor(self, operation, body):
        request = to_json_types(cbor2.loads(body)) if body else {}
        headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": f"{TARGET}.{operation}"}
        for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token"):
            if self.headers.get(name):
                headers[name] = self.headers[name]
        status, _, answer = self._forward("POST", "/", headers, json.dumps(request).encode())
        try:
            decoded = json.loads(answer) if answer else {}
        except ValueError:
            decoded = {"__type": "InternalFailure", "message": answer.decode(errors="replace")[:500]}
        if status < 300:
            try:
                shape = _model.operation_model(operation).output_shape
            except Exception:
                shape = None
            out = typed(decoded, shape)
        else:
            kind = str(decoded.get("__type", "InternalFailure")).split("#")[-1]
            out = {"__type": kind, "message": decoded.get("message") or decoded.get("Message") or ""}
        payload = cbor2.dumps(out, datetime_as_timestamp=True, timezone=UTC)
        self._send(status, [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor")], payload)

    def _handle(self):
        body = self._body()
        if self.command == "POST" and self.path.startswith(PREFIX):
            self._cbor(self.path[len(PREFIX):].split("?")[0], body)
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        status, resp_headers, answer = self._forward(self.command, self.path, headers, body)
        self._send(status, resp_headers, answer)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    port, upstream = int(sys.argv[1]), urllib.parse.urlsplit(sys.argv[2])
    Handler.upstream = upstream
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"ready {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
