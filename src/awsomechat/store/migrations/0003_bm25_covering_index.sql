-- BM25 scoring reads tf and dl for every posting of the query terms: carry them in the primary
-- key's index so PostgreSQL answers from the index alone instead of fetching ~1 table page per
-- posting (measured on 100k passages: ~118k page reads → ~1k, BM25 p95 387 → 132 ms under load).
ALTER TABLE bm25_postings
    DROP CONSTRAINT bm25_postings_pkey,
    ADD CONSTRAINT bm25_postings_pkey PRIMARY KEY (term, chunk_id) INCLUDE (tf, dl);
