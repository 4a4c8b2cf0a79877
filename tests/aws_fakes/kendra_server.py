"""Amazon Kendra's Retrieve and Query on a loopback port, as boto3 sees them (JSON 1.1 protocol).

moto has no Kendra. This server holds a few documents in memory and ranks them by the share of
query words they contain, which sets each result's ScoreConfidence (>= 0.8 VERY_HIGH, >= 0.6 HIGH,
>= 0.4 MEDIUM, else LOW). It evaluates AttributeFilter (EqualsTo, ContainsAny, ranges, And/Or/Not)
on the documents' attributes and, when a request carries a UserContext, hides documents that
share no group with it (documents without groups are public); without one it shows everything, as
an index with the ATTRIBUTE_FILTER user-context policy does. Every request is recorded.

``KendraFake.fail_next`` makes the next calls fail with a given error code, and
``retrieve_unsupported`` answers Retrieve with UnknownOperationException (an older endpoint).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

INDEX_ID = "0a1b2c3d-4e5f-4a1b-8c2d-0123456789ab"
_ERROR_STATUS = {"ThrottlingException": 400, "ValidationException": 400, "ResourceNotFoundException": 400,
                 "AccessDeniedException": 400, "InternalServerException": 500,
                 "UnknownOperationException": 400}  # fmt: skip


@dataclass
class FakeDocument:
    id: str
    title: str
    uri: str
    text: str
    attributes: dict[str, Any] = field(default_factory=dict)  # plain values: str, int, list, datetime
    groups: tuple[str, ...] = ()


@dataclass
class KendraFake:
    documents: list[FakeDocument] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    fail_next: list[str] = field(default_factory=list)
    retrieve_unsupported: bool = False

    def calls(self, operation: str) -> list[dict[str, Any]]:
        return [r["body"] for r in self.requests if r["operation"] == operation]


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) > 2}


def _confidence(score: float) -> str:
    return "VERY_HIGH" if score >= 0.8 else "HIGH" if score >= 0.6 else "MEDIUM" if score >= 0.4 else "LOW"


def _plain(value: dict[str, Any]) -> Any:
    if "DateValue" in value:
        return dt.datetime.fromtimestamp(float(value["DateValue"]), tz=dt.UTC)
    for key in ("StringValue", "LongValue", "StringListValue"):
        if key in value:
            return value[key]
    raise ValueError(f"bad DocumentAttributeValue {value}")


def _wire(value: Any) -> dict[str, Any]:
    if isinstance(value, dt.datetime):
        return {"DateValue": value.timestamp()}
    if isinstance(value, int):
        return {"LongValue": value}
    if isinstance(value, list):
        return {"StringListValue": value}
    return {"StringValue": str(value)}


def _fields(doc: FakeDocument) -> dict[str, Any]:
    return {"_source_uri": doc.uri, "_document_title": doc.title, **doc.attributes}


def _matches(doc: FakeDocument, flt: dict[str, Any]) -> bool:
    ((op, arg),) = flt.items()
    if op == "AndAllFilters":
        return all(_matches(doc, f) for f in arg)
    if op == "OrAllFilters":
        return any(_matches(doc, f) for f in arg)
    if op == "NotFilter":
        return not _matches(doc, arg)
    have = _fields(doc).get(arg["Key"])
    want = _plain(arg["Value"])
    if have is None:
        return False
    if op == "EqualsTo":
        return bool(have == want)
    if op == "ContainsAny":
        return bool(set(have if isinstance(have, list) else [have]) & set(want))
    if op == "ContainsAll":
        return set(want) <= set(have if isinstance(have, list) else [have])
    cmp = {"GreaterThan": lambda a, b: a > b, "GreaterThanOrEquals": lambda a, b: a >= b,
           "LessThan": lambda a, b: a < b, "LessThanOrEquals": lambda a, b: a <= b}  # fmt: skip
    if op in cmp:
        return bool(cmp[op](have, want))
    raise ValueError(f"unknown AttributeFilter operator {op}")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _error(self, code: str, message: str) -> None:
        self._send(
            _ERROR_STATUS.get(code, 400), {"__type": code, "message": message}, {"x-amzn-ErrorType": code}
        )

    def do_POST(self) -> None:
        fake = self.server.fake
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        target = self.headers.get("X-Amz-Target", "")
        operation = target.rpartition(".")[2]
        body = json.loads(raw or b"{}")
        fake.requests.append(
            {"operation": operation, "body": body, "auth": self.headers.get("Authorization", "")}
        )
        if not self.headers.get("Authorization", "").startswith("AWS4-HMAC-SHA256 Credential="):
            return self._error("AccessDeniedException", "missing SigV4 signature")
        if not target.startswith("AWSKendraFrontendService.") or operation not in ("Retrieve", "Query"):
            return self._error("UnknownOperationException", target)
        if fake.fail_next:
            return self._error(fake.fail_next.pop(0), "injected failure")
        if operation == "Retrieve" and fake.retrieve_unsupported:
            return self._error("UnknownOperationException", "Retrieve is not available on this endpoint")
        if body.get("IndexId") != INDEX_ID:
            return self._error("ResourceNotFoundException", f"Index {body.get('IndexId')} does not exist")
        if not body.get("QueryText"):
            return self._error("ValidationException", "QueryText is required")
        try:
            ranked = self._rank(fake, body)
        except (ValueError, KeyError) as exc:
            return self._error("ValidationException", str(exc))
        size, number = int(body.get("PageSize", 10)), int(body.get("PageNumber", 1))
        page = ranked[(number - 1) * size : number * size]
        if operation == "Retrieve":
            items = [self._retrieve_item(d, s) for d, s in page]
            return self._send(200, {"QueryId": str(uuid.uuid4()), "ResultItems": items})
        items = [self._query_item(d, s, body["QueryText"]) for d, s in page]
        self._send(
            200, {"QueryId": str(uuid.uuid4()), "ResultItems": items, "TotalNumberOfResults": len(ranked)}
        )

    @staticmethod
    def _rank(fake: KendraFake, body: dict[str, Any]) -> list[tuple[FakeDocument, float]]:
        words = _words(body["QueryText"])
        context = body.get("UserContext")
        groups = set(context.get("Groups", [])) if context is not None else None
        out = []
        for doc in fake.documents:
            if doc.groups and groups is not None and not groups & set(doc.groups):
                continue
            if body.get("AttributeFilter") and not _matches(doc, body["AttributeFilter"]):
                continue
            score = len(words & _words(doc.title + " " + doc.text)) / max(1, len(words))
            if score > 0:
                out.append((doc, score))
        out.sort(key=lambda ds: (-ds[1], ds[0].id))
        return out

    @staticmethod
    def _attributes(doc: FakeDocument) -> list[dict[str, Any]]:
        attrs = [{"Key": "_source_uri", "Value": {"StringValue": doc.uri}}]
        attrs += [{"Key": k, "Value": _wire(v)} for k, v in doc.attributes.items()]
        return attrs

    def _retrieve_item(self, doc: FakeDocument, score: float) -> dict[str, Any]:
        return {"Id": f"{doc.id}-p1", "DocumentId": doc.id, "DocumentTitle": doc.title, "Content": doc.text,
                "DocumentURI": doc.uri, "DocumentAttributes": self._attributes(doc),
                "ScoreAttributes": {"ScoreConfidence": _confidence(score)}}  # fmt: skip

    def _query_item(self, doc: FakeDocument, score: float, query: str) -> dict[str, Any]:
        excerpt = doc.text[:200]
        highlights = []
        for w in _words(query):
            m = re.search(re.escape(w), excerpt, re.IGNORECASE)
            if m:
                highlights.append({"BeginOffset": m.start(), "EndOffset": m.end(), "TopAnswer": False,
                                   "Type": "STANDARD"})  # fmt: skip
        return {"Id": f"{doc.id}-q1", "Type": "DOCUMENT", "Format": "TEXT", "DocumentId": doc.id,
                "DocumentTitle": {"Text": doc.title, "Highlights": []},
                "DocumentExcerpt": {"Text": excerpt, "Highlights": highlights}, "DocumentURI": doc.uri,
                "DocumentAttributes": self._attributes(doc),
                "ScoreAttributes": {"ScoreConfidence": _confidence(score)},
                "FeedbackToken": "token"}  # fmt: skip


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: KendraFake


@contextmanager
def kendra_server(fake: KendraFake) -> Iterator[str]:
    """The endpoint URL of a fake Kendra serving ``fake``'s documents."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.fake = fake
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
