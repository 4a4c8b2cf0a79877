"""Ingestion pipeline: sources find documents, loaders parse them, the pipeline stores them."""
