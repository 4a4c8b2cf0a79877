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


def _serial_moto_server(requests: list[str] | None = None) -> Any:
    """A ThreadedMotoServer whose backend handles one request at a time; with ``requests``, each
    request is appended to it as ``"METHOD /path?query"`` (what a test counts across processes).

    moto's TransactWriteItems is not thread-safe: it deep-copies the table for its rollback while
    other requests write to it, which gives 500s and, worse, rolls back writes that already
    succeeded. Real DynamoDB serialises conflicting writes itself, so the test server does too
    (requests still arrive concurrently; the clients' retries and conditions are exercised).
    """
    from moto.server import ThreadedMotoServer

    class SerialMotoServer(ThreadedMotoServer):
        def _server_entry(self) -> None:
            from moto.moto_server.werkzeug_app import (
                DomainDispatcherApplication,
                MotoRequestHandler,
                create_backend_app,
            )
            from werkzeug.serving import make_server

            app = DomainDispatcherApplication(create_backend_app)
            lock = threading.Lock()

            def serial(environ: Any, start_response: Any) -> Any:
                with lock:
                    if requests is not None:
                        query = environ.get("QUERY_STRING", "")
                        requests.append(f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}?{query}")
                    return list(app(environ, start_response))

            self._server = make_server(
                self._ip_address, self._port, serial, True, request_handler=MotoRequestHandler
            )
            self._server_ready_event.set()
            self._server.serve_forever()

    return SerialMotoServer(ip_address="127.0.0.1", port=0, verbose=False)


@contextmanager
def moto_server(requests: list[str] | None = None) -> Iterator[str]:
    """moto in server mode on 127.0.0.1 and a free port; yields its endpoint URL. ``requests``
    collects every request it answers (see :func:`_serial_moto_server`)."""
    server = _serial_moto_server(requests)
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


THROTTLED = (
    400,
    "application/x-amz-json-1.0",
    json.dumps(
        {"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException", "message": "Rate exceeded"}
    ),
)
S3_ACCESS_DENIED = (
    403,
    "application/xml",
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    "<Message>Access Denied</Message><RequestId>denied</RequestId></Error>",
)


class _Failing(BaseHTTPRequestHandler):
    """Answers every request with one AWS error in its service's wire format (``answer``)."""

    calls = 0
    answer: tuple[int, str, str] = THROTTLED

    def _reply(self) -> None:
        type(self).calls += 1
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, content_type, text = self.answer
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", "failing")
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_HEAD = _reply

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def failing_endpoint(answer: tuple[int, str, str] = THROTTLED) -> Iterator[tuple[str, type[_Failing]]]:
    """A loopback HTTP endpoint that fails every call with ``answer`` (status, content type, body),
    as AWS does when it throttles or denies; yields (URL, handler class with its ``calls``)."""
    handler = type("Failing", (_Failing,), {"calls": 0, "answer": answer})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()
