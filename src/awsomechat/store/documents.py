"""Writing and reading documents: one transaction per document, everywhere at once.

A document's row, its passages, their vectors and their BM25 postings are written (or replaced,
or deleted) in a single transaction, so no reader ever sees a document in one retriever and not
the other, and a crash mid-ingest leaves the previous version intact.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from awsomechat.errors import DocumentRejectedError, NotFoundError, StoreValueError
from awsomechat.store.database import Database
from awsomechat.store.filters_sql import access_clause
from awsomechat.types import AccessScope, ChunkDraft, ChunkRecord, DocumentRecord

STATS_SLOTS = 16
_MAX_ROW_ID = 2**63 - 1


def row_id(document_id: str) -> int:
    """Our row id behind an opaque document id; NotFoundError for ids that are not ours (a
    Kendra id, a typo), exactly like an id that does not exist."""
    if document_id.isascii() and document_id.isdigit() and int(document_id) <= _MAX_ROW_ID:
        return int(document_id)
    raise NotFoundError(f"no document with id {document_id[:100]!r}")


@dataclass(frozen=True)
class DocumentWrite:
    """Everything needed to store one document version."""

    source: str
    uri: str
    title: str
    format: str
    content_hash: str
    size_bytes: int
    options_hash: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    groups: tuple[str, ...] = ()
    # The source's version of these bytes (an S3 ETag), "" when the source has none.
    source_version: str = ""


@dataclass(frozen=True)
class IndexedChunk:
    """A passage with its vector and BM25 term frequencies, ready to store."""

    draft: ChunkDraft
    vector: npt.NDArray[np.float32]
    term_freqs: Counter[str]
    term_count: int


@dataclass(frozen=True)
class ExistingDocument:
    """What sync needs to know about a stored document to skip, update or replace it."""

    id: int
    content_hash: str
    options_hash: str
    title: str
    attributes: dict[str, Any]
    groups: tuple[str, ...]
    source: str
    source_version: str = ""


_DOC_COLUMNS = (
    "d.id, d.source, d.uri, d.title, d.format, d.content_hash, d.attributes, d.groups,"
    " d.chunk_count, d.size_bytes, d.created_at, d.updated_at"
)


def _doc_record(row: dict[str, Any]) -> DocumentRecord:
    return DocumentRecord(
        id=row["id"],
        source=row["source"],
        uri=row["uri"],
        title=row["title"],
        format=row["format"],
        content_hash=row["content_hash"],
        attributes=dict(row["attributes"]),
        groups=tuple(row["groups"]),
        chunk_count=row["chunk_count"],
        size_bytes=row["size_bytes"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _add_stats(
    conn: psycopg.Connection[Any], groups: tuple[str, ...], doc_id: int, n_chunks: int, total_terms: int
) -> None:
    """Add to (or, negative, take from) the BM25 statistics of a group set, in the document's slot."""
    conn.execute(
        "INSERT INTO bm25_stats (groups, slot, n_chunks, total_terms) VALUES (%s, %s, %s, %s)"
        " ON CONFLICT (groups, slot) DO UPDATE SET n_chunks = bm25_stats.n_chunks + excluded.n_chunks,"
        " total_terms = bm25_stats.total_terms + excluded.total_terms",
        (list(groups), doc_id % STATS_SLOTS, n_chunks, total_terms),
    )


class DocumentStore:
    """Documents and passages in PostgreSQL (see the module docstring for the guarantees)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # ------------------------------------------------------------------ writes
    def existing(self, uris: Sequence[str]) -> dict[str, ExistingDocument]:
        """Stored versions of the given URIs (one round trip for a whole batch)."""
        if not uris:
            return {}
        with self._db.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                "SELECT id, uri, content_hash, options_hash, title, attributes, groups, source,"
                " source_version FROM documents WHERE uri = ANY(%s)",
                (list(uris),),
            )
            return {
                r["uri"]: ExistingDocument(
                    r["id"],
                    r["content_hash"],
                    r["options_hash"],
                    r["title"],
                    dict(r["attributes"]),
                    tuple(r["groups"]),
                    r["source"],
                    r["source_version"],
                )
                for r in cur.fetchall()
            }

    def write(self, doc: DocumentWrite, chunks: Sequence[IndexedChunk]) -> int:
        """Insert or atomically replace the document with ``doc.uri``; returns its id."""
        if not chunks:
            raise DocumentRejectedError(f"refusing to store {doc.uri} with no passages")
        try:
            return self._write(doc, chunks)
        except (StoreValueError, psycopg.IntegrityError) as exc:
            # The transaction rolled back: the previous version (if any) is untouched.
            raise DocumentRejectedError(
                f"the database refused {doc.uri}: {str(exc).splitlines()[0]}"
            ) from exc

    def _write(self, doc: DocumentWrite, chunks: Sequence[IndexedChunk]) -> int:
        with self._db.pool.connection() as conn, conn.transaction():
            doc_id = self._upsert_document(conn, doc, len(chunks))
            self._insert_chunks(conn, doc_id, doc.groups, chunks)
            return doc_id

    def _upsert_document(self, conn: psycopg.Connection[Any], doc: DocumentWrite, n_chunks: int) -> int:
        """Insert the document row, or update it and drop its old passages; returns its id.

        The old version is read locked first: its groups say which statistics its passages leave.
        When another writer inserts the same URI in between, the insert yields and the read, now
        seeing that row, is repeated.
        """
        values = (
            doc.source, doc.title, doc.format, doc.content_hash, doc.options_hash,
            json.dumps(doc.attributes), list(doc.groups), doc.size_bytes, n_chunks, doc.source_version,
        )  # fmt: skip
        while True:
            old = conn.execute(
                "SELECT id, groups FROM documents WHERE uri = %s FOR UPDATE", (doc.uri,)
            ).fetchone()
            if old is not None:
                doc_id = int(old[0])
                conn.execute(
                    "UPDATE documents SET source = %s, title = %s, format = %s, content_hash = %s,"
                    " options_hash = %s, attributes = %s::jsonb, groups = %s, size_bytes = %s,"
                    " chunk_count = %s, source_version = %s, updated_at = now() WHERE id = %s",
                    (*values, doc_id),
                )
                self._delete_chunks(conn, doc_id, tuple(old[1]))
                return doc_id
            row = conn.execute(
                "INSERT INTO documents (source, title, format, content_hash, options_hash, attributes,"
                " groups, size_bytes, chunk_count, source_version, uri)"
                " VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s, %s, %s)"
                " ON CONFLICT (uri) DO NOTHING RETURNING id",
                (*values, doc.uri),
            ).fetchone()
            if row is not None:
                return int(row[0])

    def set_source_version(self, doc_id: int, version: str) -> None:
        """Record a new source version for unchanged bytes (an object re-uploaded as it was)."""
        with self._db.pool.connection() as conn:
            conn.execute("UPDATE documents SET source_version = %s WHERE id = %s", (version, doc_id))

    def update_metadata(self, doc_id: int, doc: DocumentWrite) -> None:
        """Change title, source, attributes or groups of an unchanged document (no re-embedding).

        New groups move the document's passages to the statistics and postings of its new scope.
        """
        with self._db.pool.connection() as conn, conn.transaction():
            old = conn.execute("SELECT groups FROM documents WHERE id = %s FOR UPDATE", (doc_id,)).fetchone()
            if old is None:
                return
            conn.execute(
                "UPDATE documents SET title = %s, source = %s, attributes = %s::jsonb, groups = %s,"
                " updated_at = now() WHERE id = %s",
                (doc.title, doc.source, json.dumps(doc.attributes), list(doc.groups), doc_id),
            )
            if tuple(old[0]) == tuple(doc.groups):
                return
            row = conn.execute(
                "SELECT count(*), coalesce(sum(term_count), 0) FROM chunks WHERE document_id = %s",
                (doc_id,),
            ).fetchone()
            assert row is not None
            _add_stats(conn, tuple(old[0]), doc_id, -int(row[0]), -int(row[1]))
            _add_stats(conn, tuple(doc.groups), doc_id, int(row[0]), int(row[1]))
            conn.execute(
                "UPDATE bm25_postings SET groups = %s"
                " WHERE chunk_id IN (SELECT id FROM chunks WHERE document_id = %s)",
                (list(doc.groups) or None, doc_id),
            )

    def delete(self, doc_id: int) -> bool:
        """Delete one document with all it owns; False if it did not exist."""
        with self._db.pool.connection() as conn, conn.transaction():
            old = conn.execute("SELECT groups FROM documents WHERE id = %s FOR UPDATE", (doc_id,)).fetchone()
            if old is None:
                return False
            self._delete_chunks(conn, doc_id, tuple(old[0]))
            conn.execute("DELETE FROM documents WHERE id = %s", (doc_id,))
            return True

    def _delete_chunks(self, conn: psycopg.Connection[Any], doc_id: int, groups: tuple[str, ...]) -> None:
        # Postings go by cascade; the corpus statistics of the document's groups are ours to keep.
        row = conn.execute(
            "WITH gone AS (DELETE FROM chunks WHERE document_id = %s RETURNING term_count)"
            " SELECT count(*), coalesce(sum(term_count), 0) FROM gone",
            (doc_id,),
        ).fetchone()
        if row and row[0]:
            _add_stats(conn, groups, doc_id, -int(row[0]), -int(row[1]))

    def _insert_chunks(
        self,
        conn: psycopg.Connection[Any],
        doc_id: int,
        groups: tuple[str, ...],
        chunks: Sequence[IndexedChunk],
    ) -> None:
        ids = [
            r[0]
            for r in conn.execute(
                "SELECT nextval(pg_get_serial_sequence('chunks', 'id')) FROM generate_series(1, %s)",
                (len(chunks),),
            ).fetchall()
        ]
        with conn.cursor().copy(
            "COPY chunks (id, document_id, position, text, heading_path, page, token_count,"
            " term_count, embedding) FROM STDIN"
        ) as copy:
            for cid, ch in zip(ids, chunks, strict=True):
                d = ch.draft
                copy.write_row(
                    (
                        cid,
                        doc_id,
                        d.position,
                        d.text,
                        list(d.heading_path),
                        d.page,
                        d.token_count,
                        ch.term_count,
                        ch.vector,
                    )
                )
        # Restricted passages' postings carry the groups (scoped document frequencies); public: NULL.
        posting_groups = list(groups) or None
        with conn.cursor().copy("COPY bm25_postings (term, chunk_id, tf, dl, groups) FROM STDIN") as copy:
            for cid, ch in zip(ids, chunks, strict=True):
                for term, tf in ch.term_freqs.items():
                    copy.write_row((term, cid, tf, ch.term_count, posting_groups))
        _add_stats(conn, groups, doc_id, len(chunks), sum(c.term_count for c in chunks))

    # ------------------------------------------------------------------- reads
    def list_documents(
        self,
        scope: AccessScope,
        *,
        source: str | None = None,
        query: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[DocumentRecord]:
        """Documents visible to ``scope``, newest first; ``query`` matches title or URI."""
        where, params = access_clause(scope)
        parts = [where]
        if source is not None:
            parts.append(sql.SQL("d.source = %s"))
            params.append(source)
        if query:
            parts.append(sql.SQL("(d.title ILIKE %s OR d.uri ILIKE %s)"))
            like = "%" + query.replace("%", r"\%").replace("_", r"\_") + "%"
            params += [like, like]
        stmt = sql.SQL(
            "SELECT " + _DOC_COLUMNS + " FROM documents d WHERE {} ORDER BY d.updated_at DESC, d.id DESC"
            " LIMIT %s OFFSET %s"
        ).format(sql.SQL(" AND ").join(parts))
        with self._db.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(stmt, [*params, limit, offset])
            return [_doc_record(r) for r in cur.fetchall()]

    def facets(self, scope: AccessScope, *, max_values: int = 50) -> dict[str, Any]:
        """Sources and scalar attribute values (JSON-typed, as filters compare them) of the documents
        ``scope`` may see, with counts: the choices a filter UI offers."""
        where, params = access_clause(scope)
        sources = sql.SQL(
            "SELECT d.source AS value, count(*) AS count FROM documents d WHERE {}"
            " GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT %s"
        ).format(where)
        attributes = sql.SQL(
            "SELECT key, value, count FROM (SELECT a.key, a.value, count(*) AS count,"
            " row_number() OVER (PARTITION BY a.key ORDER BY count(*) DESC, a.value) AS rn"
            " FROM documents d, jsonb_each(d.attributes) a WHERE {}"
            " AND jsonb_typeof(a.value) IN ('string', 'number', 'boolean') GROUP BY 1, 2) t"
            " WHERE rn <= %s ORDER BY key, count DESC, value"
        ).format(where)
        out: dict[str, Any] = {"sources": [], "attributes": {}}
        with self._db.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(sources, [*params, max_values])
            out["sources"] = [{"value": r["value"], "count": r["count"]} for r in cur.fetchall()]
            cur.execute(attributes, [*params, max_values])
            for r in cur.fetchall():
                out["attributes"].setdefault(r["key"], []).append({"value": r["value"], "count": r["count"]})
        return out

    def count(self) -> int:
        with self._db.pool.connection() as conn:
            row = conn.execute("SELECT count(*) FROM documents").fetchone()
            return int(row[0]) if row else 0

    def get(self, doc_id: int, scope: AccessScope) -> DocumentRecord:
        """One document, or NotFoundError when it does not exist *or* is not visible."""
        where, params = access_clause(scope)
        stmt = sql.SQL("SELECT " + _DOC_COLUMNS + " FROM documents d WHERE d.id = %s AND {}").format(where)
        with self._db.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(stmt, [doc_id, *params]).fetchone()
        if row is None:
            raise NotFoundError(f"no document with id {doc_id}")
        return _doc_record(row)

    def find_by_uri(self, uri: str, scope: AccessScope) -> DocumentRecord | None:
        where, params = access_clause(scope)
        stmt = sql.SQL("SELECT " + _DOC_COLUMNS + " FROM documents d WHERE d.uri = %s AND {}").format(where)
        with self._db.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(stmt, [uri, *params]).fetchone()
        return _doc_record(row) if row else None

    def chunks(self, doc_id: int) -> list[ChunkRecord]:
        """Passages of a document in order (callers check access with :meth:`get` first)."""
        with self._db.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                "SELECT id, document_id, position, text, heading_path, page, token_count"
                " FROM chunks WHERE document_id = %s ORDER BY position",
                (doc_id,),
            )
            return [
                ChunkRecord(
                    r["id"],
                    r["document_id"],
                    r["position"],
                    r["text"],
                    tuple(r["heading_path"]),
                    r["page"],
                    r["token_count"],
                )
                for r in cur.fetchall()
            ]

    def vectors_by_text(self, doc_ids: Sequence[int]) -> dict[str, npt.NDArray[np.float32]]:
        """The stored vector of every passage text of these documents (one round trip)."""
        if not doc_ids:
            return {}
        with self._db.pool.connection() as conn:
            rows = conn.execute(
                "SELECT text, embedding FROM chunks WHERE document_id = ANY(%s)", (list(doc_ids),)
            ).fetchall()
        return {text: np.asarray(vec.to_numpy(), dtype=np.float32) for text, vec in rows}

    def uris_of_source(self, source: str) -> dict[str, int]:
        """URI → id of every document recorded under ``source`` (for ``--prune``)."""
        with self._db.pool.connection() as conn:
            rows = conn.execute("SELECT uri, id FROM documents WHERE source = %s", (source,)).fetchall()
        return {r[0]: int(r[1]) for r in rows}

    def stats(self) -> dict[str, int]:
        """Counts of documents, passages and postings."""
        with self._db.pool.connection() as conn:
            row = conn.execute(
                "SELECT (SELECT count(*) FROM documents), (SELECT count(*) FROM chunks),"
                " (SELECT sum(n_chunks) FROM bm25_stats), (SELECT sum(total_terms) FROM bm25_stats)"
            ).fetchone()
        assert row is not None
        return {
            "documents": int(row[0]),
            "chunks": int(row[1]),
            "bm25_chunks": int(row[2] or 0),
            "bm25_terms": int(row[3] or 0),
        }
