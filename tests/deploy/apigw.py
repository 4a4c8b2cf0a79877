"""Amazon API Gateway proxy events as API Gateway sends them to Lambda, and a Lambda context.

The shapes follow AWS's documentation of the Lambda proxy integration: REST APIs send payload
format 1.0 (``resource``, ``httpMethod``, ``multiValueHeaders``, the stage in
``requestContext.path`` but not in ``path``); HTTP APIs send 2.0 (``version``, ``rawPath``,
``rawQueryString``, lower-case ``headers``, ``cookies``, ``requestContext.http``). Bodies of binary
media types arrive base64-encoded with ``isBase64Encoded: true``.
"""

from __future__ import annotations

import base64
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

API_ID = "a1b2c3d4e5"
DOMAIN = f"{API_ID}.execute-api.eu-west-1.amazonaws.com"
SOURCE_IP = "203.0.113.17"
USER_AGENT = "curl/8.5.0"


def _body(body: bytes | str | None, binary: bool) -> tuple[str | None, bool]:
    if body is None:
        return None, False
    raw = body.encode() if isinstance(body, str) else body
    if binary:
        return base64.b64encode(raw).decode(), True
    return raw.decode(), False


def rest_v1_event(
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    query: dict[str, list[str]] | None = None,
    body: bytes | str | None = None,
    binary: bool = False,
    stage: str = "prod",
) -> dict[str, Any]:
    """A REST API (payload format 1.0) event for ``ANY /{proxy+}`` on ``stage``."""
    hdrs = {
        "Accept": "*/*",
        "Host": DOMAIN,
        "User-Agent": USER_AGENT,
        "X-Amzn-Trace-Id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}",
        "X-Forwarded-For": SOURCE_IP,
        "X-Forwarded-Port": "443",
        "X-Forwarded-Proto": "https",
        **(headers or {}),
    }
    text, is_b64 = _body(body, binary)
    request_id = str(uuid.uuid4())
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": hdrs,
        "multiValueHeaders": {k: [v] for k, v in hdrs.items()},
        "queryStringParameters": {k: v[-1] for k, v in query.items()} if query else None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": API_ID,
            "domainName": DOMAIN,
            "domainPrefix": API_ID,
            "extendedRequestId": base64.b64encode(uuid.uuid4().bytes[:12]).decode(),
            "httpMethod": method,
            "identity": {
                "accessKey": None,
                "accountId": None,
                "caller": None,
                "cognitoAuthenticationProvider": None,
                "cognitoAuthenticationType": None,
                "cognitoIdentityId": None,
                "cognitoIdentityPoolId": None,
                "principalOrgId": None,
                "sourceIp": SOURCE_IP,
                "user": None,
                "userAgent": USER_AGENT,
                "userArn": None,
            },
            "path": f"/{stage}{path}",
            "protocol": "HTTP/1.1",
            "requestId": request_id,
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
            "requestTimeEpoch": int(time.time() * 1000),
            "resourceId": "abc123",
            "resourcePath": "/{proxy+}",
            "stage": stage,
        },
        "body": text,
        "isBase64Encoded": is_b64,
    }


def http_v2_event(
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    query: dict[str, list[str]] | None = None,
    body: bytes | str | None = None,
    binary: bool = False,
    cookies: list[str] | None = None,
) -> dict[str, Any]:
    """An HTTP API (payload format 2.0) event for the ``$default`` route and stage."""
    hdrs = {
        "accept": "*/*",
        "host": DOMAIN,
        "user-agent": USER_AGENT,
        "x-amzn-trace-id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}",
        "x-forwarded-for": SOURCE_IP,
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
        **{k.lower(): v for k, v in (headers or {}).items()},
    }
    text, is_b64 = _body(body, binary)
    if text is not None:
        hdrs["content-length"] = str(len(body.encode() if isinstance(body, str) else body or b""))
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": urlencode(query or {}, doseq=True),
        "headers": hdrs,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": API_ID,
            "domainName": DOMAIN,
            "domainPrefix": API_ID,
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": SOURCE_IP,
                "userAgent": USER_AGENT,
            },
            "requestId": base64.b64encode(uuid.uuid4().bytes[:12]).decode(),
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
            "timeEpoch": int(time.time() * 1000),
        },
        "isBase64Encoded": is_b64,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = {k: ",".join(v) for k, v in query.items()}
    if text is not None:
        event["body"] = text
    return event


@dataclass
class LambdaContext:
    """The attributes of the context object the Python runtime passes to a handler."""

    function_name: str = "awsomechat-api"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 2048
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/awsomechat-api"
    log_stream_name: str = "2026/01/01/[$LATEST]0123456789abcdef"
    deadline_ms: float = field(default_factory=lambda: time.time() * 1000 + 30_000)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:eu-west-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self.deadline_ms - time.time() * 1000))


def response_body(result: dict[str, Any]) -> bytes:
    """The body API Gateway would send to the client for a Lambda proxy result."""
    body = result.get("body") or ""
    return base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()


def header(result: dict[str, Any], name: str) -> str | None:
    """A response header from either payload format (``headers`` or ``multiValueHeaders``)."""
    name = name.lower()
    for key, value in (result.get("headers") or {}).items():
        if key.lower() == name:
            return str(value)
    for key, values in (result.get("multiValueHeaders") or {}).items():
        if key.lower() == name and values:
            return str(values[0])
    return None
