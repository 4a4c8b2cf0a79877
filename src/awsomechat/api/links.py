"""Openable links in API responses: a document's public page, else the document in the web UI.

The base address is ``api.public_url`` when set (behind a proxy the request's own address may
be an internal one), else the address the request came to (its root path included). Without the
web UI (``api.ui = false``) the fallback is the document's API resource instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request

from awsomechat.api.context import ApiContext, get_context
from awsomechat.links import public_url


@dataclass(frozen=True)
class Links:
    """Builds the ``url`` of citations and results for one request."""

    base: str  # without a trailing slash
    ui: bool = True

    def document(self, document_id: str, chunk_id: str | None = None) -> str:
        """The web UI's view of a document, scrolled to the passage: ``/#/doc/<id>/<chunk>``."""
        doc = quote(document_id, safe="")
        if not self.ui:
            return f"{self.base}/v1/documents/{doc}?passages=true"
        tail = f"/{quote(chunk_id, safe='')}" if chunk_id else ""
        return f"{self.base}/#/doc/{doc}{tail}"

    def url(
        self,
        *,
        uri: str,
        document_id: str,
        chunk_id: str | None = None,
        known: str = "",
        attributes: Mapping[str, Any] | None = None,
    ) -> str:
        """``known`` (a citation's own url), else the document's public address, else :meth:`document`."""
        return known or public_url(uri, attributes) or self.document(document_id, chunk_id)


def request_links(request: Request, ctx: Annotated[ApiContext, Depends(get_context)]) -> Links:
    """The links of the service as people open it."""
    base = ctx.settings.api.public_url or str(request.base_url)
    return Links(base.rstrip("/"), ui=ctx.settings.api.ui)


RequestLinks = Annotated[Links, Depends(request_links)]
