"""moto in server mode on a loopback port, and real boto3 clients pointed at it (not fixtures)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
from botocore.config import Config

REGION = "us-east-1"
# What the standard AWS environment needs to reach moto; also handed to `awsomechat serve`.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": REGION}


@contextmanager
def moto_server() -> Iterator[str]:
    """A ThreadedMotoServer on 127.0.0.1 and a free port; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def aws_client(service: str, endpoint: str, *, attempts: int = 2, timeout_s: float = 10.0) -> Any:
    """A real boto3 client for ``service`` at ``endpoint`` (moto), with the test credentials."""
    return boto3.session.Session().client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(
            retries={"mode": "standard", "total_max_attempts": attempts},
            connect_timeout=timeout_s,
            read_timeout=timeout_s,
        ),
    )


class _Throttling(BaseHTTPRequestHandler):
    """Answers every request as DynamoDB does when it throttles (JSON 1.0 wire format)."""

    calls = 0

    def do_POST(self) -> None:
        type(self).calls += 1
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps(
            {"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException", "message": "Rate exceeded"}
        ).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", "throttled")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def throttling_endpoint() -> Iterator[tuple[str, type[_Throttling]]]:
    """A loopback HTTP endpoint that throttles every DynamoDB call; yields (URL, handler class)."""
    handler = type("Throttling", (_Throttling,), {"calls": 0})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()
