"""``awsomechat mcp``: the MCP server over stdio for local assistants (see awsomechat.mcp.stdio)."""

from __future__ import annotations

import sys

import typer


def mcp_command(
    url: str = typer.Option(
        "http://127.0.0.1:8080", "--url", envvar="AWSOMECHAT_URL", help="the running AWSomeChat service"
    ),
    api_key: str = typer.Option(
        "",
        "--api-key",
        envvar="AWSOMECHAT_API_KEY",
        help="the key the tools use (its groups apply)",
        show_default=False,
    ),
) -> None:
    """Serve the MCP tools (search, ask, list_documents, get_document) over stdio.

    Set AWSOMECHAT_URL and AWSOMECHAT_API_KEY in the assistant's environment for this command.

    The tools call that service with that key: they see exactly what the key may read.
    """
    try:
        from awsomechat.mcp.stdio import run_stdio
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("mcp"):
            raise
        print("awsomechat mcp needs the MCP SDK: pip install 'awsomechat[mcp]'", file=sys.stderr)
        raise typer.Exit(2) from None
    run_stdio(url, api_key or None)
