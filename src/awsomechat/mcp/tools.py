"""The MCP tools: what an agent sees (names, descriptions, input schemas) and what each returns.

Every tool gets its client from a ``ClientFactory``, so the same tools serve Streamable HTTP on
the service (a client of the same app, in-process, with the caller's key) and stdio (a client of
a running service). An API error becomes a tool error whose text is the problem's detail, so the
agent can read why (404: no such document *for this key*; 422: which field is wrong).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import BaseModel, Field

from awsomechat.client import (
    ApiError,
    AsyncAwsomeChatClient,
    AwsomeChatClientError,
    Citation,
    Document,
    Passage,
)

ClientFactory = Callable[[Context], contextlib.AbstractAsyncContextManager[AsyncAwsomeChatClient]]
"""Opens the client a tool call uses, for the caller of that request."""

INSTRUCTIONS = """AWSomeChat answers from an organisation's own documents (product docs, handbooks,
FAQs). Use `search` to find passages and cite them yourself, `ask` for a finished answer with
numbered citations, `list_documents` / `get_document` to browse or read a whole document.
Only documents your key may read are ever searched or shown."""


class FilterArg(BaseModel):
    """One metadata condition; several are ANDed. Filters only narrow what the key may read."""

    field: str = Field(
        description="source, uri, title, format, created_at, updated_at, or an attribute as"
        " attributes.<key> (see a passage's or document's attributes for the keys in use)"
    )
    op: Literal["eq", "ne", "in", "gt", "gte", "lt", "lte", "exists"] = "eq"
    value: Any = Field(default=None, description="a string, number or boolean; a list for op=in")


class PassageOut(BaseModel):
    rank: int
    title: str
    uri: str = Field(description="where the document was read from (may be a path on the server)")
    url: str = Field(description="a link the user can open: give it to the user as the reference")
    text: str = Field(description="the whole passage")
    heading_path: list[str]
    page: int | None
    document_id: str = Field(description="pass to get_document to read the whole document")
    chunk_id: str
    attributes: dict[str, Any]
    score: float = Field(description="fused relevance score (higher is better; only for ordering)")


class SearchOut(BaseModel):
    query: str
    passages: list[PassageOut]


class CitationOut(BaseModel):
    n: int = Field(description="[n] in the answer points at this passage")
    title: str
    uri: str = Field(description="where the document was read from (may be a path on the server)")
    url: str = Field(description="a link the user can open: give it to the user as the reference")
    excerpt: str
    document_id: str
    chunk_id: str


class AskOut(BaseModel):
    answer: str = Field(description="the answer, with [n] markers citing the citations")
    abstained: bool = Field(
        description="true: the documents do not cover the question; the answer says so and"
        " citations are empty (sources lists the closest passages found instead)"
    )
    citations: list[CitationOut] = Field(description="the passages the answer cites")
    sources: list[CitationOut] = Field(
        description="every passage the answer was written from (when abstained: the closest ones)"
    )
    session_id: str | None = Field(description="pass back as session_id to ask a follow-up question")
    standalone_question: str = Field(description="the question as searched (follow-ups are rewritten)")


class DocumentSummary(BaseModel):
    id: str
    title: str
    uri: str = Field(description="where the document was read from (may be a path on the server)")
    url: str = Field(default="", description="a link the user can open")
    source: str
    format: str
    passages: int
    attributes: dict[str, Any]
    updated_at: str | None


class DocumentListOut(BaseModel):
    documents: list[DocumentSummary]
    next_offset: int | None = Field(description="pass as offset for the next page; null on the last")


class DocumentOut(DocumentSummary):
    text: str = Field(description="the document's text (its passages in order), possibly cut")
    truncated: bool = Field(description="true when text was cut at max_chars")


def _passage(p: Passage) -> PassageOut:
    return PassageOut(
        rank=p.rank, title=p.title, uri=p.uri, url=p.url, text=p.text, heading_path=list(p.heading_path),
        page=p.page,
        document_id=p.document_id, chunk_id=p.chunk_id, attributes=p.attributes, score=p.scores.fused,
    )  # fmt: skip


def _citation(c: Citation) -> CitationOut:
    return CitationOut(
        n=c.n,
        title=c.title,
        uri=c.uri,
        url=c.url,
        excerpt=c.excerpt,
        document_id=c.document_id,
        chunk_id=c.chunk_id,
    )


def _filters(filters: list[FilterArg] | None) -> list[dict[str, Any]]:
    return [f.model_dump() for f in filters or ()]


@contextlib.asynccontextmanager
async def _api_errors() -> AsyncIterator[None]:
    """API errors as tool errors an agent can act on."""
    try:
        yield
    except ApiError as exc:
        detail = exc.detail or exc.title
        fields = "; ".join(f"{e.get('field')}: {e.get('message')}" for e in exc.errors)
        raise ToolError(f"{exc.status} {detail}" + (f" ({fields})" if fields else "")) from None
    except AwsomeChatClientError as exc:
        raise ToolError(f"AWSomeChat is unreachable: {exc}") from None


_READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)


def build_mcp_server(clients: ClientFactory, *, version: str = "") -> MCPServer:
    """The AWSomeChat MCP server with its four tools; ``clients`` opens each call's API client."""
    server = MCPServer("awsomechat", title="AWSomeChat", instructions=INSTRUCTIONS, version=version)

    @server.tool(
        title="Search the documents",
        annotations=_READ_ONLY,
        description=(
            "Search the organisation's documents and return the most relevant passages, best first,"
            " each with its document title, URI, heading path and full text. Use it to find facts"
            " you will quote or cite yourself, or to check what the documents say before answering."
            " Hybrid keyword + semantic search: specific terms (product names, error codes, limits)"
            " work well. Only documents the caller may read are searched. Use `ask` instead for a"
            " finished, cited answer in one step."
        ),
    )
    async def search(
        query: Annotated[str, Field(min_length=1, max_length=2000, description="what to look for")],
        ctx: Context,
        k: Annotated[int, Field(ge=1, le=50, description="how many passages to return")] = 5,
        filters: Annotated[
            list[FilterArg] | None,
            Field(description="optional metadata conditions, e.g. [{field: 'attributes.team', value: 'hr'}]"),
        ] = None,
    ) -> SearchOut:
        async with clients(ctx) as client, _api_errors():
            passages = await client.query(query, k=k, filters=_filters(filters))
        return SearchOut(query=query, passages=[_passage(p) for p in passages])

    @server.tool(
        title="Ask the documents",
        annotations=ToolAnnotations(read_only_hint=False, open_world_hint=False),
        description=(
            "Answer a question from the organisation's documents, with numbered [n] citations"
            " pointing at the passages used (title, URI, excerpt). If the documents do not cover the"
            " question, `abstained` is true and the answer says so rather than guessing: report"
            " that to the user instead of inventing an answer. For a follow-up question pass the"
            " `session_id` of the previous answer; the question is then read in the light of the"
            " conversation. Slower than `search` (a language model writes the answer: seconds to a"
            " minute). The turn is stored in the caller's conversation history."
        ),
    )
    async def ask(
        question: Annotated[str, Field(min_length=1, description="the question, in natural language")],
        ctx: Context,
        session_id: Annotated[
            str | None, Field(description="continue this conversation (from an earlier ask)")
        ] = None,
        filters: Annotated[
            list[FilterArg] | None, Field(description="optional metadata conditions on the sources")
        ] = None,
    ) -> AskOut:
        async with clients(ctx) as client, _api_errors():
            answer = await client.chat(question, session_id=session_id, filters=_filters(filters))
        return AskOut(
            answer=answer.text, abstained=answer.abstained,
            citations=[_citation(c) for c in answer.citations],
            sources=[_citation(c) for c in answer.sources],
            session_id=answer.session_id, standalone_question=answer.standalone_question,
        )  # fmt: skip

    @server.tool(
        title="List documents",
        annotations=_READ_ONLY,
        description=(
            "List the documents the caller may read (title, URI, source, format, passage count,"
            " attributes), most recently updated first. `query` matches words of the title or URI"
            " (not the content: use `search` for that). Page with `offset`."
        ),
    )
    async def list_documents(
        ctx: Context,
        query: Annotated[str | None, Field(max_length=200, description="match title or URI")] = None,
        limit: Annotated[int, Field(ge=1, le=200)] = 20,
        offset: Annotated[int, Field(ge=0)] = 0,
    ) -> DocumentListOut:
        async with clients(ctx) as client, _api_errors():
            docs = await client.list_documents(q=query, limit=limit + 1, offset=offset)
        return DocumentListOut(
            documents=[_summary(d) for d in docs[:limit]],
            next_offset=offset + limit if len(docs) > limit else None,
        )

    @server.tool(
        title="Read a document",
        annotations=_READ_ONLY,
        description=(
            "Read one whole document by its id (the `document_id` of a search result or the `id`"
            " from list_documents): its metadata and text. Long documents are cut at `max_chars`"
            " (`truncated` says so). An id the caller may not read is reported as not found."
        ),
    )
    async def get_document(
        document_id: Annotated[str, Field(min_length=1, description="the document's id")],
        ctx: Context,
        max_chars: Annotated[int, Field(ge=100, le=200_000)] = 20_000,
    ) -> DocumentOut:
        async with clients(ctx) as client, _api_errors():
            doc = await client.get_document(document_id, passages=True)
        text = doc.text
        return DocumentOut(
            **_summary(doc).model_dump(), text=text[:max_chars], truncated=len(text) > max_chars
        )

    return server


def _summary(d: Document) -> DocumentSummary:
    return DocumentSummary(
        id=d.id, title=d.title, uri=d.uri, url=d.url, source=d.source, format=d.format, passages=d.passages,
        attributes=d.attributes, updated_at=d.updated_at.isoformat() if d.updated_at else None,
    )  # fmt: skip
