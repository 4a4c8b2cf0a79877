"""Lone surrogates in request strings (issue 11, finding 3).

JSON's ``\\ud800`` escape decodes to a Python string with a lone surrogate: not valid Unicode,
with no UTF-8 form, so the database driver failed while encoding the statement (a 500). Every
string that can reach the database or the retrieval SQL is now refused with a 422 naming it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from awsomechat.seams import Embedder
from tests.api.conftest import ARTIFACTS, seed
from tests.live import LiveServer, live_server

pytestmark = pytest.mark.security

LONE = "\ud800"
OFF_TOPIC = "Who won the 1998 football world cup final?"  # abstains: no model call


@pytest.fixture(scope="module")
def server(data_dir: Path, embedder: Embedder) -> Iterator[LiveServer]:
    with live_server(data_dir, embedder, ARTIFACTS / "logs", setup=seed) as s:
        yield s


def _send(c: httpx.Client, method: str, url: str, body: dict[str, Any]) -> httpx.Response:
    # json.dumps escapes the surrogate as \ud800 (httpx's json= cannot encode it at all).
    return c.request(method, url, content=json.dumps(body), headers={"Content-Type": "application/json"})


def _assert_refused(r: httpx.Response, field: str) -> None:
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    errors = r.json()["errors"]
    assert errors[0]["field"] == field, errors
    assert "unicode" in errors[0]["message"].lower()


FILTERS = [
    {"field": "source", "op": "eq", "value": LONE},
    {"field": "attributes.team", "op": "eq", "value": "fin" + LONE},
    {"field": "title", "op": "in", "value": ["ok", LONE]},
]


@pytest.mark.parametrize("bad", FILTERS, ids=["source-eq", "attribute-eq", "title-in"])
@pytest.mark.parametrize(
    ("url", "body"),
    [
        ("/v1/query", {"query": "lambda package size"}),
        ("/v1/chat", {"message": OFF_TOPIC, "stream": False}),
        ("/v1/chat", {"message": OFF_TOPIC, "stream": True}),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": OFF_TOPIC}]}),
    ],
    ids=["query", "chat", "chat-sse", "completions"],
)
def test_filter_values_with_a_lone_surrogate_are_422(
    server: LiveServer, url: str, body: dict[str, Any], bad: dict[str, Any]
) -> None:
    with server.client(server.admin_key) as c:
        r = _send(c, "POST", url, {**body, "filters": [{"field": "source", "value": "x"}, bad]})
    _assert_refused(r, "filters[1]")


def test_texts_with_a_lone_surrogate_are_422(server: LiveServer) -> None:
    with server.client(server.admin_key) as c:
        _assert_refused(_send(c, "POST", "/v1/query", {"query": "lambda " + LONE}), "query")
        for stream in (False, True):
            r = _send(c, "POST", "/v1/chat", {"message": "What is " + LONE + "?", "stream": stream})
            _assert_refused(r, "message")
        for messages, field in [
            ([{"role": "user", "content": "lambda " + LONE}], "messages[0].content"),
            (
                [
                    {"role": "user", "content": "Earlier " + LONE},
                    {"role": "assistant", "content": "An answer."},
                    {"role": "user", "content": "And then?"},
                ],
                "messages[0].content",
            ),
            (
                [{"role": "user", "content": [{"type": "text", "text": "parts " + LONE}]}],
                "messages[0].content",
            ),
        ]:
            r = _send(c, "POST", "/v1/chat/completions", {"model": "awsomechat", "messages": messages})
            _assert_refused(r, field)
            assert r.json()["error"]["param"] == field


def test_session_title_and_feedback_comment_with_a_lone_surrogate_are_422(server: LiveServer) -> None:
    """Already refused by pydantic's ``str`` validation; kept so that it stays so."""
    with server.client(server.admin_key) as c:
        turn = c.post("/v1/chat", json={"message": OFF_TOPIC, "stream": False})
        assert turn.status_code == 200, turn.text
        sid, mid = turn.json()["session_id"], turn.json()["message_id"]
        _assert_refused(_send(c, "PATCH", f"/v1/sessions/{sid}", {"title": "Trip " + LONE}), "title")
        r = _send(c, "POST", f"/v1/messages/{mid}/feedback", {"rating": 1, "comment": LONE})
        _assert_refused(r, "comment")
        # Nothing was changed, and the valid forms still work.
        assert c.get(f"/v1/sessions/{sid}").json()["title"] != "Trip " + LONE
        assert _send(c, "PATCH", f"/v1/sessions/{sid}", {"title": "Trip"}).status_code == 200


@pytest.mark.parametrize(
    ("attributes", "field"),
    [('{"team": "fin\\ud800"}', "attributes.team"), ('{"te\\ud800am": "fin"}', "attributes")],
    ids=["value", "key"],
)
def test_document_attributes_with_a_lone_surrogate_are_422(
    server: LiveServer, attributes: str, field: str
) -> None:
    with server.client(server.admin_key) as c:
        r = c.post(
            "/v1/documents",
            files=[("files", ("note.md", b"# Note\n\nA short note.", "text/markdown"))],
            data={"attributes": attributes},
        )
    _assert_refused(r, field)
