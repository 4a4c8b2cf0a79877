"""Text analysis: BM25 tokenisation and query-term highlighting."""
