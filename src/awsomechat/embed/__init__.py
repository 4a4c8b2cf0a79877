"""Embedder adapters, chosen by ``embedder.kind`` and imported lazily."""

from __future__ import annotations

from awsomechat.seams import Embedder
from awsomechat.settings import EmbedderSettings


def build_embedder(settings: EmbedderSettings) -> Embedder:
    """Build the configured embedder (loads the model: seconds, not milliseconds)."""
    if settings.kind == "minilm":
        from awsomechat.embed.minilm import MiniLMEmbedder

        return MiniLMEmbedder(settings)
    if settings.kind == "e5":
        from awsomechat.embed.e5 import E5SmallEmbedder

        return E5SmallEmbedder(settings)
    raise AssertionError(f"unknown embedder kind {settings.kind!r}")  # settings validation prevents this
