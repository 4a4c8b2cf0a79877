"""``awsomechat mcp``: the MCP tools over stdio, for local assistants (Claude Desktop, IDEs).

The process is a client of a running AWSomeChat service (``--url``, ``--api-key``), not a
second copy of it: the service already holds the model, the answer queue and the store, so an
assistant's MCP process starts in about two seconds, needs no torch or llama.cpp, holds no
1.4 GB model, and cannot read more than its key may (access is checked by the service, as for
every other client). One service serves the web UI, the REST API and any number of assistants.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from mcp.server.mcpserver import Context, MCPServer

from awsomechat import __version__
from awsomechat.client import AsyncAwsomeChatClient, Retry
from awsomechat.mcp.tools import build_mcp_server


def stdio_server(base_url: str, api_key: str | None, *, timeout_s: float = 600.0) -> MCPServer:
    """The MCP server whose tools call the service at ``base_url`` with ``api_key``."""

    @contextlib.asynccontextmanager
    async def client_for(_: Context) -> AsyncIterator[AsyncAwsomeChatClient]:
        # A short retry budget: an agent waiting a minute in silence is worse than an error it can report.
        retry = Retry(attempts=3, max_wait_s=10)
        async with AsyncAwsomeChatClient(base_url, api_key, timeout=timeout_s, retry=retry) as client:
            yield client

    return build_mcp_server(client_for, version=__version__)


def run_stdio(base_url: str, api_key: str | None) -> None:
    """Serve MCP on stdin/stdout until the assistant closes it."""
    stdio_server(base_url, api_key).run("stdio")
