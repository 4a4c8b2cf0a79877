"""Request and response bodies of the REST API (the OpenAPI schema is generated from these)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from awsomechat.api.links import Links
from awsomechat.chat.types import ChatSession, Turn
from awsomechat.chat.types import Citation as CitationData
from awsomechat.links import public_url
from awsomechat.types import DocumentRecord, SearchHit


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain a NUL character")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]
"""A request string: PostgreSQL text cannot hold NUL, so it is refused at the edge (422). A lone
surrogate (``"\\ud800"`` in JSON) pydantic refuses in any ``str`` field by itself; values typed
``Any`` (filter values) are checked where they are parsed (``awsomechat.filters``)."""

FilterOpName = Literal["eq", "ne", "in", "gt", "gte", "lt", "lte", "exists"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FilterIn(Strict):
    """One metadata condition; conditions are ANDed with each other and with your access."""

    field: Text = Field(
        min_length=1,
        max_length=100,
        description="source, uri, title, format, created_at, updated_at, or an attribute key"
        " (attributes.<key> or attr.<key>)",
        examples=["attributes.service"],
    )
    op: FilterOpName = "eq"
    value: Any = Field(default=None, examples=["lambda"])


# ------------------------------------------------------------------ citations


class Citation(BaseModel):
    """A numbered passage: ``[n]`` in an answer points at it."""

    n: int
    chunk_id: str
    document_id: str
    title: str
    uri: str
    heading_path: list[str]
    page: int | None
    excerpt: str
    url: str = Field(
        default="",
        description="a link a reader can open: the document's public page, else the document in the"
        " web UI scrolled to this passage (never a server path; `uri` is where it was read from)",
    )

    @classmethod
    def of(cls, c: CitationData, links: Links | None = None) -> Citation:
        body = c.to_json()
        if links is not None:
            body["url"] = links.url(uri=c.uri, document_id=c.document_id, chunk_id=c.chunk_id, known=c.url)
        return cls(**body)


# ----------------------------------------------------------------------- chat


class ChatIn(Strict):
    """A message to answer from the documents."""

    message: Text = Field(min_length=1, description="the question (or e-mail, with profile email_reply)")
    session_id: uuid.UUID | None = Field(default=None, description="continue this session; omit to start one")
    filters: list[FilterIn] = Field(default_factory=list, max_length=20)
    profile: str = Field(default="chat", max_length=64, description="prompt profile: chat, email_reply, ...")
    stream: bool = Field(default=True, description="Server-Sent Events (true) or one JSON response (false)")

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"message": "What is the maximum size of a Lambda deployment package?", "stream": False},
                {
                    "message": "and for container images?",
                    "session_id": "5b0c9c3e-1f7e-4f43-9d7b-3c3b0c4a7e10",
                },
            ]
        },
    )


class SentenceCheckOut(BaseModel):
    """One sentence the model wrote, checked against the passage it cites before it was shown."""

    sentence: str
    model_cited: list[int] = Field(description="the [n] the model wrote")
    cited: list[int] = Field(description="the passage(s) it is cited to in the answer")
    claim: bool = Field(description="false: no content to check (e.g. 'Yes.')")
    supported: bool
    coverage: float
    reason: str = Field(description="why it is not supported ('number 45', 'name X', 'coverage 0.40')")
    action: Literal["kept", "marked", "dropped", "corrected"]
    correction: str = Field(
        default="",
        description="with action 'corrected': the cited passage's own sentence, shown instead of this"
        " one, which said its opposite",
    )


class ChatOut(BaseModel):
    """A finished, stored answer (the ``final`` event of the stream carries the same fields)."""

    message_id: uuid.UUID | None
    session_id: uuid.UUID | None
    question: str
    standalone_question: str
    answer: str
    abstained: bool
    citations: list[Citation] = Field(description="the passages the answer cites, numbered as in the text")
    sources: list[Citation] = Field(
        description="every passage given to the model (closest ones if abstained)"
    )
    model: str
    prompt_tokens: int
    completion_tokens: int
    timings: dict[str, float]
    verification: list[SentenceCheckOut] = Field(
        default_factory=list,
        description="the verdict on each sentence the model wrote (chat.verify; docs/answer-trust.md)",
    )


# -------------------------------------------------------------------- sessions


class SessionOut(BaseModel):
    id: uuid.UUID
    title: str
    profile: str
    created_at: dt.datetime
    updated_at: dt.datetime
    message_count: int

    @classmethod
    def of(cls, s: ChatSession) -> SessionOut:
        return cls(
            id=s.id, title=s.title, profile=s.profile, created_at=s.created_at,
            updated_at=s.updated_at, message_count=s.message_count,
        )  # fmt: skip


class SessionList(BaseModel):
    sessions: list[SessionOut]
    next_offset: int | None


class SessionRename(Strict):
    title: Text = Field(min_length=1, max_length=200)


class MessageOut(BaseModel):
    """One question/answer turn of a session."""

    id: uuid.UUID
    session_id: uuid.UUID
    seq: int
    question: str
    standalone_question: str
    answer: str
    abstained: bool
    citations: list[Citation]
    sources: list[Citation]
    model: str
    prompt_tokens: int
    completion_tokens: int
    timings: dict[str, float]
    created_at: dt.datetime
    rating: int | None
    feedback_comment: str

    @classmethod
    def of(cls, t: Turn, links: Links | None = None) -> MessageOut:
        return cls(
            id=t.id, session_id=t.session_id, seq=t.seq, question=t.question,
            standalone_question=t.standalone_question, answer=t.answer, abstained=t.abstained,
            citations=[Citation.of(c, links) for c in t.citations],
            sources=[Citation.of(c, links) for c in t.sources], model=t.model,
            prompt_tokens=t.prompt_tokens, completion_tokens=t.completion_tokens,
            timings=dict(t.timings), created_at=t.created_at, rating=t.rating,
            feedback_comment=t.feedback_comment,
        )  # fmt: skip


class MessageList(BaseModel):
    session: SessionOut
    messages: list[MessageOut]


class FeedbackIn(Strict):
    rating: Literal[1, -1] = Field(description="1 = helpful, -1 = not helpful")
    comment: Text = Field(default="", max_length=4000)


class FeedbackOut(BaseModel):
    message_id: uuid.UUID
    rating: int
    comment: str
    updated_at: dt.datetime


# ----------------------------------------------------------------------- query


class QueryIn(Strict):
    """Retrieval only (like Kendra's Query/Retrieve): ranked passages for your own LLM or search UI."""

    query: Text = Field(min_length=1, max_length=2000, examples=["lambda deployment package size limit"])
    page_size: int = Field(default=10, ge=1, le=100)
    offset: int = Field(default=0, ge=0, le=1000)
    filters: list[FilterIn] = Field(default_factory=list, max_length=20)
    mode: Literal["hybrid", "dense", "bm25"] = "hybrid"


class HighlightOut(BaseModel):
    start: int
    end: int


class ScoresOut(BaseModel):
    fused: float
    dense: float | None
    bm25: float | None
    dense_rank: int | None
    bm25_rank: int | None


class QueryResult(BaseModel):
    rank: int
    chunk_id: str = Field(description="opaque passage id")
    document_id: str = Field(description="opaque document id (the path of GET /v1/documents/{id})")
    title: str
    uri: str = Field(description="where the document was read from (may be a server path)")
    url: str = Field(
        default="", description="a link a reader can open: the public page, else the web UI's view"
    )
    source: str
    attributes: dict[str, Any]
    heading_path: list[str]
    page: int | None
    text: str = Field(description="the whole passage")
    excerpt: str = Field(description="the best-matching part of the passage")
    highlights: list[HighlightOut] = Field(description="character spans of the excerpt matching the query")
    scores: ScoresOut

    @classmethod
    def of(cls, rank: int, h: SearchHit, links: Links | None = None) -> QueryResult:
        s = h.scores
        url = (
            links.url(uri=h.uri, document_id=h.document_id, chunk_id=h.chunk_id, attributes=h.attributes)
            if links is not None
            else public_url(h.uri, h.attributes)
        )
        return cls(
            rank=rank, chunk_id=h.chunk_id, document_id=h.document_id, title=h.title, uri=h.uri, url=url,
            source=h.source, attributes=h.attributes, heading_path=list(h.heading_path), page=h.page,
            text=h.text, excerpt=h.excerpt,
            highlights=[HighlightOut(start=x.start, end=x.end) for x in h.highlights],
            scores=ScoresOut(
                fused=s.fused, dense=s.dense, bm25=s.bm25, dense_rank=s.dense_rank, bm25_rank=s.bm25_rank
            ),
        )  # fmt: skip


class QueryOut(BaseModel):
    query: str
    results: list[QueryResult]
    next_offset: int | None = Field(description="offset of the next page, or null when this is the last")
    timings_ms: dict[str, float]


# ------------------------------------------------------------------- documents


class DocumentOut(BaseModel):
    id: str = Field(description="opaque document id")
    source: str
    uri: str = Field(description="where the document was read from (may be a server path)")
    url: str = Field(
        default="", description="a link a reader can open: the public page, else the web UI's view"
    )
    title: str
    format: str
    attributes: dict[str, Any]
    groups: list[str]
    passages: int
    size_bytes: int
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, d: DocumentRecord, links: Links | None = None) -> DocumentOut:
        url = (
            links.url(uri=d.uri, document_id=str(d.id), attributes=d.attributes)
            if links is not None
            else public_url(d.uri, d.attributes)
        )
        return cls(
            id=str(d.id), source=d.source, uri=d.uri, url=url, title=d.title, format=d.format,
            attributes=d.attributes,
            groups=list(d.groups), passages=d.chunk_count, size_bytes=d.size_bytes,
            created_at=d.created_at, updated_at=d.updated_at,
        )  # fmt: skip


class PassageOut(BaseModel):
    chunk_id: str
    position: int
    text: str
    heading_path: list[str]
    page: int | None


class DocumentDetail(DocumentOut):
    passage_list: list[PassageOut] | None = Field(default=None, description="with ?passages=true")


class DocumentList(BaseModel):
    documents: list[DocumentOut]
    next_offset: int | None


class JobFileOut(BaseModel):
    name: str
    size_bytes: int
    model_config = ConfigDict(coerce_numbers_to_str=True)  # the job table keeps our row ids

    status: str = Field(description="queued, added, updated, unchanged or failed")
    detail: str
    document_id: str | None


class JobOut(BaseModel):
    """A background ingestion job: poll ``GET /v1/jobs/{id}`` until ``status`` is final."""

    id: uuid.UUID
    status: Literal["queued", "running", "succeeded", "failed", "partial"]
    total: int
    done: int
    files: list[JobFileOut]
    collection: str
    attributes: dict[str, Any]
    groups: list[str]
    error: str
    created_at: dt.datetime
    finished_at: dt.datetime | None


class JobList(BaseModel):
    jobs: list[JobOut]


# ------------------------------------------------------------------------ misc


class MeOut(BaseModel):
    """The caller as the server sees it."""

    user_id: str
    groups: list[str]
    admin: bool
    local_mode: bool


class ProfileOut(BaseModel):
    name: str
    description: str
    input_kind: str


class ServerInfo(BaseModel):
    """What a client (the web UI) needs to know before signing in."""

    name: str = "AWSomeChat"
    version: str
    local_mode: bool
    profiles: list[ProfileOut]
    max_message_chars: int
    max_upload_mb: float
    max_upload_files: int
    upload_extensions: list[str]


class FieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem document: every error response (``application/problem+json``)."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    request_id: str
    errors: list[FieldError] | None = Field(default=None, description="the invalid fields (422)")
    retry_after: int | None = Field(default=None, description="seconds to wait (429, 503)")
