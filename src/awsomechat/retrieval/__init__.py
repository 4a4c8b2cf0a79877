"""Hybrid retrieval: dense + BM25 candidates, fused by reciprocal rank fusion."""
