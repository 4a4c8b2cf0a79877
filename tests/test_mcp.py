"""The MCP server through the official MCP client: Streamable HTTP at /mcp on a live server
(bearer keys, 401 without one) and `awsomechat mcp` over stdio; the four tools; and access
groups exactly as on the REST API: a passage restricted to `finance` is invisible through every
tool to a key without the group."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from awsomechat.seams import Embedder
from tests.api.conftest import ARTIFACTS, seed
from tests.live import LiveServer, live_server

PAYROLL_Q = "When are salaries paid at Octank?"
TOOLS = {"search", "ask", "list_documents", "get_document"}


@pytest.fixture(scope="module")
def server(data_dir: Path, embedder: Embedder) -> Iterator[LiveServer]:
    with live_server(data_dir, embedder, ARTIFACTS / "logs", setup=seed) as s:
        yield s


@pytest.fixture(scope="module")
def keys(server: LiveServer) -> dict[str, str]:
    return {
        "plain": server.create_user("mcp-plain"),
        "finance": server.create_user("mcp-finance", groups=("finance",)),
    }


@asynccontextmanager
async def http_session(server: LiveServer, key: str) -> AsyncIterator[ClientSession]:
    headers = {"Authorization": f"Bearer {key}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=300)) as http,
        streamable_http_client(f"{server.url}/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


@asynccontextmanager
async def stdio_session(server: LiveServer, key: str) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "awsomechat", "mcp"],
        env={**os.environ, "AWSOMECHAT_URL": server.url, "AWSOMECHAT_API_KEY": key},
    )
    with open(ARTIFACTS / "logs" / "mcp-stdio.log", "a") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session


async def call(session: ClientSession, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await session.call_tool(tool, arguments)
    assert not result.is_error, result.content
    data: dict[str, Any] = result.structured_content
    # The same result as text for clients that read only the content blocks.
    assert json.loads(result.content[0].text) == data  # type: ignore[union-attr]
    return data


async def error_of(session: ClientSession, tool: str, **arguments: Any) -> str:
    result = await session.call_tool(tool, arguments)
    assert result.is_error, result
    return str(result.content[0].text)  # type: ignore[union-attr]


def test_mcp_without_a_valid_key_is_refused_with_401(server: LiveServer) -> None:
    body = {
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}
        },
    }  # fmt: skip
    headers = {"Accept": "application/json, text/event-stream"}
    for auth in ({}, {"Authorization": "Bearer awc_nothere_" + "x" * 32}, {"Authorization": "Basic eDp5"}):
        r = httpx.post(f"{server.url}/mcp", json=body, headers={**headers, **auth}, timeout=30)
        assert r.status_code == 401, (auth, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert r.json()["status"] == 401 and r.json()["request_id"]
    # The control: the same request with a valid key is an MCP initialize result.
    r = httpx.post(
        f"{server.url}/mcp", json=body, headers={**headers, "Authorization": f"Bearer {server.admin_key}"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["result"]["serverInfo"]["name"] == "awsomechat"


def test_the_sdk_client_refuses_to_connect_without_a_key(server: LiveServer) -> None:
    async def run() -> None:
        async with http_session(server, "awc_nothere_" + "x" * 32):
            pass

    with pytest.raises(BaseExceptionGroup) as err:  # the SDK's error for the 401, in its task groups
        anyio.run(run)
    assert err.group_contains(MCPError, match="error response"), repr(err.value)


def test_tools_over_streamable_http(server: LiveServer, keys: dict[str, str]) -> None:
    async def run() -> None:
        async with http_session(server, keys["finance"]) as s:
            tools = {t.name: t for t in (await s.list_tools()).tools}
            assert set(tools) == TOOLS
            for tool in tools.values():  # descriptions an agent can choose by
                assert tool.description and len(tool.description) > 150, tool.name
            assert tools["search"].input_schema["required"] == ["query"]
            assert "session_id" in tools["ask"].input_schema["properties"]

            found = await call(s, "search", query="lambda deployment package size", k=2)
            top = found["passages"][0]
            assert top["title"] == "Lambda quotas" and top["uri"] == "test://kb/lambda.md"
            assert (
                "50 MB" in top["text"] and isinstance(top["document_id"], str) and len(found["passages"]) == 2
            )
            narrowed = await call(
                s, "search", query=PAYROLL_Q, filters=[{"field": "attributes.team", "value": "finance"}]
            )
            assert {p["title"] for p in narrowed["passages"]} == {"Payroll calendar"}

            docs = await call(s, "list_documents")
            titles = {d["title"]: d for d in docs["documents"]}
            assert {"Lambda quotas", "Site-to-site VPN", "Payroll calendar"} <= set(titles)
            doc = await call(s, "get_document", document_id=titles["Payroll calendar"]["id"])
            assert "25th of every month" in doc["text"] and doc["truncated"] is False
            short = await call(s, "get_document", document_id=titles["Payroll calendar"]["id"], max_chars=100)
            assert len(short["text"]) == 100 and short["truncated"] is True
            assert "404" in await error_of(s, "get_document", document_id="987654321")

            first = await call(s, "ask", question=PAYROLL_Q)
            assert first["abstained"] is False and first["session_id"]
            assert "Payroll calendar" in {c["title"] for c in first["sources"]}
            follow = await call(
                s, "ask", question="And when are the books closed?", session_id=first["session_id"]
            )
            assert follow["session_id"] == first["session_id"]
            assert "422" in await error_of(s, "ask", question="x", session_id="not-a-uuid")

    anyio.run(run)
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {keys['finance']}"}) as c:
        sessions = c.get("/v1/sessions").json()["sessions"]  # ask stored the turns as the key's own
    assert [s["message_count"] for s in sessions] == [2]


def test_a_restricted_document_is_invisible_through_every_tool(
    server: LiveServer, keys: dict[str, str]
) -> None:
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.admin_key}"}) as c:
        payroll = next(
            d for d in c.get("/v1/documents").json()["documents"] if d["title"] == "Payroll calendar"
        )

    async def run() -> None:
        async with http_session(server, keys["plain"]) as s:
            found = await call(s, "search", query=PAYROLL_Q, k=10)
            assert "Payroll calendar" not in {p["title"] for p in found["passages"]}
            assert found["passages"], "the control: the key does see the public documents"
            filtered = await call(
                s, "search", query=PAYROLL_Q, filters=[{"field": "attributes.team", "value": "finance"}]
            )
            assert filtered["passages"] == []  # a filter cannot widen access
            docs = await call(s, "list_documents", limit=200)
            assert "Payroll calendar" not in {d["title"] for d in docs["documents"]} and docs["documents"]
            assert "404" in await error_of(s, "get_document", document_id=str(payroll["id"]))
            answer = await call(s, "ask", question=PAYROLL_Q)
            assert "Payroll calendar" not in {c["title"] for c in answer["sources"] + answer["citations"]}
            assert "25th" not in answer["answer"]

    anyio.run(run)


def test_stdio_server_calls_the_service_with_its_key(server: LiveServer, keys: dict[str, str]) -> None:
    async def run() -> None:
        async with stdio_session(server, keys["plain"]) as s:
            assert {t.name for t in (await s.list_tools()).tools} == TOOLS
            found = await call(s, "search", query=PAYROLL_Q, k=10)
            assert "Payroll calendar" not in {p["title"] for p in found["passages"]}
            docs = await call(s, "list_documents")
            assert "Payroll calendar" not in {d["title"] for d in docs["documents"]}
            lambda_doc = next(d for d in docs["documents"] if d["title"] == "Lambda quotas")
            doc = await call(s, "get_document", document_id=lambda_doc["id"])
            assert "250 MB unzipped" in doc["text"]
        async with stdio_session(server, keys["finance"]) as s:
            found = await call(s, "search", query=PAYROLL_Q, k=3)
            assert found["passages"][0]["title"] == "Payroll calendar"
            answer = await call(s, "ask", question=PAYROLL_Q)
            assert not answer["abstained"] and "Payroll calendar" in {c["title"] for c in answer["sources"]}
        async with stdio_session(server, "awc_nothere_" + "x" * 32) as s:
            assert "401" in await error_of(s, "search", query="lambda")

    anyio.run(run)
