"""AWSomeChat as an MCP server (the official MCP Python SDK, extra ``mcp``).

Tools: ``search``, ``ask``, ``list_documents``, ``get_document``. Both transports run the same
tools, and the tools are clients of the REST API (:mod:`awsomechat.client`) with the caller's own
key, so access groups, filters, limits and errors are exactly the REST API's:

* Streamable HTTP at ``/mcp`` on the service (:mod:`awsomechat.mcp.http`): the caller's bearer
  key is checked, then every tool call goes to the same app in-process (no network hop).
* ``awsomechat mcp`` over stdio for local assistants (:mod:`awsomechat.mcp.stdio`): the tools
  call a running service over HTTP with the configured key.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from awsomechat.api.context import ApiContext
    from awsomechat.mcp.http import McpEndpoint

log = logging.getLogger(__name__)


def mcp_endpoint(ctx: ApiContext, version: str = "") -> McpEndpoint | None:
    """The service's ``/mcp`` endpoint, or None (logged) when the ``mcp`` extra is not installed."""
    try:
        from awsomechat.mcp.http import McpEndpoint
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("mcp"):
            raise
        log.info("no /mcp endpoint: the MCP SDK is not installed (pip install 'awsomechat[mcp]')")
        return None
    return McpEndpoint(ctx, version)
