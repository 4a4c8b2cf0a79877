"""Plain data types shared by every layer. They import nothing from the project."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

JsonScalar = str | int | float | bool | None


# ---------------------------------------------------------------- loading ---


@dataclass(frozen=True)
class Section:
    """A run of text with its place in the document's structure.

    Loaders emit sections; the chunker packs them into passages. ``atomic`` sections (an FAQ
    question/answer pair) become exactly one passage each and are never merged or split unless
    they exceed the passage budget.
    """

    text: str
    heading_path: tuple[str, ...] = ()
    page: int | None = None
    atomic: bool = False


@dataclass(frozen=True)
class LoadedDocument:
    """What a loader makes of one file: a title, its structured text and the format name."""

    title: str
    sections: list[Section]
    format: str  # "pdf", "html", "markdown", "docx", "text", "faq"
    metadata: dict[str, JsonScalar] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "\n\n".join(s.text for s in self.sections)


@dataclass(frozen=True)
class SourceItem:
    """Raw bytes of one document as a source (folder, file, URL, upload) found it.

    ``uri`` identifies the document across syncs (absolute file path as ``file://`` URI, or the
    URL); ``source`` names the collection it came from (the folder, file or site root given to
    ``ingest``), which ``--prune`` uses to find documents that disappeared. ``version`` is what
    the source reported for these bytes (an S3 object's ETag), recorded on the document so that a
    later sync can skip it unread; ``""`` when the source has none.
    """

    uri: str
    source: str
    name: str
    data: bytes
    content_type: str | None = None
    modified_at: dt.datetime | None = None
    version: str = ""


@dataclass(frozen=True)
class ChunkDraft:
    """A passage before it is stored: what the chunker produces."""

    text: str
    position: int
    heading_path: tuple[str, ...] = ()
    page: int | None = None
    token_count: int = 0


# ------------------------------------------------------------------ stored ---


@dataclass(frozen=True)
class DocumentRecord:
    """A stored document (without its chunks)."""

    id: int
    source: str
    uri: str
    title: str
    format: str
    content_hash: str
    attributes: dict[str, Any]
    groups: tuple[str, ...]
    chunk_count: int
    size_bytes: int
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True)
class ChunkRecord:
    """A stored passage."""

    id: int
    document_id: int
    position: int
    text: str
    heading_path: tuple[str, ...]
    page: int | None
    token_count: int


# --------------------------------------------------------------- querying ---

FilterOp = Literal["eq", "ne", "in", "gt", "gte", "lt", "lte", "exists"]


@dataclass(frozen=True)
class Condition:
    """One metadata condition. ``field`` is ``source``, ``uri``, ``title``, ``format``,
    ``created_at``, ``updated_at`` or ``attributes.<key>`` (``attr.<key>`` for short)."""

    field: str
    op: FilterOp
    value: Any = None


@dataclass(frozen=True)
class AccessScope:
    """What a caller may read. Documents with no groups are public; others need a shared group.

    ``all_access`` is for administrators and local single-user mode only.
    """

    groups: frozenset[str] = frozenset()
    all_access: bool = False

    @classmethod
    def public(cls) -> AccessScope:
        return cls()

    @classmethod
    def admin(cls) -> AccessScope:
        return cls(all_access=True)


@dataclass(frozen=True)
class SearchRequest:
    """A retrieval request. ``filters`` are ANDed with each other and with the access scope."""

    text: str
    k: int = 10
    offset: int = 0
    filters: tuple[Condition, ...] = ()
    access: AccessScope = field(default_factory=AccessScope)
    mode: Literal["hybrid", "dense", "bm25"] = "hybrid"


@dataclass(frozen=True)
class Scores:
    """Every score a hit earned. Ranks are 1-based; ``None`` when that retriever missed it."""

    fused: float
    dense: float | None = None
    bm25: float | None = None
    dense_rank: int | None = None
    bm25_rank: int | None = None
    rerank: float | None = None
    confidence: str | None = None  # a backend's own band (Kendra's ScoreConfidence: LOW ... VERY_HIGH)


@dataclass(frozen=True)
class Highlight:
    """A character span of the excerpt that matches a query term."""

    start: int
    end: int


@dataclass(frozen=True)
class SearchHit:
    """One ranked passage with what a caller needs to show and cite it.

    Ids are opaque strings: ours are PostgreSQL row ids as text, Kendra's are its own result and
    document ids. Nothing above a retriever may parse them.
    """

    chunk_id: str
    document_id: str
    title: str
    uri: str
    source: str
    attributes: dict[str, Any]
    text: str
    heading_path: tuple[str, ...]
    page: int | None
    position: int
    excerpt: str
    highlights: tuple[Highlight, ...]
    scores: Scores


@dataclass(frozen=True)
class RelevanceVerdict:
    """Whether retrieved passages can answer a question, from the retriever's own signals
    (``top_dense`` and ``coverage`` for the hybrid retriever; a backend without them reports its
    own confidence in ``top_dense`` and 1.0 coverage)."""

    answerable: bool
    top_dense: float
    coverage: float
    reason: str


@dataclass(frozen=True)
class SearchResponse:
    """Ranked hits plus how long each stage took (milliseconds)."""

    hits: list[SearchHit]
    timings_ms: dict[str, float]


# ------------------------------------------------------------------ access ---


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user id (conversations belong to it), its groups and whether it is an admin.

    Built by authentication (an API key, or local single-user mode); never taken from a request body.
    """

    user_id: str
    groups: frozenset[str] = frozenset()
    admin: bool = False
    key_id: str | None = None  # the API key used; None in local mode

    @property
    def access(self) -> AccessScope:
        """Document access: admins read everything, others public documents and their groups'."""
        return AccessScope(groups=self.groups, all_access=self.admin)
