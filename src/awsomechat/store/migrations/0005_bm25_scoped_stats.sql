-- BM25 statistics within the caller's access scope. Document frequency, corpus size and average
-- length counted over every document let a public passage's score reveal which words the hidden
-- documents contain; they are now counted over what the caller may read.
--
-- Corpus size and total length are kept per document group set (still slotted by document id), so
-- a scope's N and avgdl are a sum over the group sets it may read.
ALTER TABLE bm25_stats ADD COLUMN groups text[] NOT NULL DEFAULT '{}';
ALTER TABLE bm25_stats DROP CONSTRAINT bm25_stats_pkey;
DELETE FROM bm25_stats;
INSERT INTO bm25_stats (groups, slot, n_chunks, total_terms)
SELECT d.groups, (d.id % 16)::smallint, count(*), coalesce(sum(c.term_count), 0)
FROM chunks c JOIN documents d ON d.id = c.document_id
GROUP BY 1, 2;
ALTER TABLE bm25_stats ADD PRIMARY KEY (groups, slot);
INSERT INTO bm25_stats (groups, slot)
SELECT '{}', generate_series(0, 15)
ON CONFLICT DO NOTHING;

-- Postings of group-restricted documents carry their groups (public ones keep NULL, which costs no
-- bytes). The document frequency within a scope is the total minus the postings the caller may not
-- read, counted from this partial index alone: free when every document is public.
ALTER TABLE bm25_postings ADD COLUMN groups text[];
UPDATE bm25_postings p SET groups = d.groups
FROM chunks c JOIN documents d ON d.id = c.document_id
WHERE c.id = p.chunk_id AND d.groups <> '{}';
CREATE INDEX bm25_postings_restricted_idx ON bm25_postings (term) INCLUDE (groups)
    WHERE groups IS NOT NULL;
