-- Documents, passages, dense vectors and the BM25 inverted index, all in one database so one
-- transaction writes a document everywhere at once.
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE documents (
    id            bigserial PRIMARY KEY,
    source        text        NOT NULL,
    uri           text        NOT NULL UNIQUE,
    title         text        NOT NULL,
    format        text        NOT NULL,
    content_hash  text        NOT NULL,
    -- Hash of what else shaped the stored passages (ingest attributes, groups, chunking): a
    -- re-sync with other options re-processes the document even when its bytes are unchanged.
    options_hash  text        NOT NULL DEFAULT '',
    attributes    jsonb       NOT NULL DEFAULT '{}'::jsonb,
    groups        text[]      NOT NULL DEFAULT '{}',
    size_bytes    bigint      NOT NULL DEFAULT 0,
    chunk_count   integer     NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX documents_source_idx ON documents (source);
CREATE INDEX documents_updated_idx ON documents (updated_at);
CREATE INDEX documents_attributes_idx ON documents USING gin (attributes jsonb_path_ops);
CREATE INDEX documents_groups_idx ON documents USING gin (groups);

-- The vector column has no fixed dimension: the HNSW index is an expression index on
-- (embedding::vector(dim)) created for the embedder recorded in index_meta.
CREATE TABLE chunks (
    id            bigserial PRIMARY KEY,
    document_id   bigint  NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    position      integer NOT NULL,
    text          text    NOT NULL,
    heading_path  text[]  NOT NULL DEFAULT '{}',
    page          integer,
    token_count   integer NOT NULL,
    term_count    integer NOT NULL,
    embedding     vector  NOT NULL,
    UNIQUE (document_id, position)
);

-- BM25: one row per (term, passage) with the term frequency and the passage length, so a query
-- scores every candidate from this table alone. Document frequency is counted at query time
-- from the same rows: it can never drift from the postings.
CREATE TABLE bm25_postings (
    term      text    NOT NULL,
    chunk_id  bigint  NOT NULL REFERENCES chunks (id) ON DELETE CASCADE,
    tf        integer NOT NULL,
    dl        integer NOT NULL,
    PRIMARY KEY (term, chunk_id)
);
CREATE INDEX bm25_postings_chunk_idx ON bm25_postings (chunk_id);

-- Corpus size and total length for avgdl, split in slots so concurrent writers do not queue on
-- one row (a writer updates the slot of its document id; readers sum the slots).
CREATE TABLE bm25_stats (
    slot         smallint PRIMARY KEY,
    n_chunks     bigint NOT NULL DEFAULT 0,
    total_terms  bigint NOT NULL DEFAULT 0
);
INSERT INTO bm25_stats (slot) SELECT generate_series(0, 15);

-- What the index was built with (embedder name and dimension, analyzer version).
CREATE TABLE index_meta (
    key    text PRIMARY KEY,
    value  jsonb NOT NULL
);
