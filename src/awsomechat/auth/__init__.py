"""Users, API keys and per-key request limits."""
