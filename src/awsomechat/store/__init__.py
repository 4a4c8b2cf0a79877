"""PostgreSQL + pgvector: the one store for documents, passages, vectors and BM25 postings."""
