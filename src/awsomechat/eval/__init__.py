"""Evaluation: retrieval metrics on BEIR-layout datasets."""
