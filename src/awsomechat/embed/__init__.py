"""Embedder adapters, chosen by ``embedder.kind`` and imported lazily."""

from __future__ import annotations

from pathlib import Path

from awsomechat.seams import Embedder
from awsomechat.settings import EmbedderSettings


def build_embedder(settings: EmbedderSettings, *, data_dir: Path | None = None) -> Embedder:
    """Build the configured embedder (loads the model: seconds, not milliseconds), its queries
    batched across concurrent requests unless ``query_batch_wait_ms`` is 0. ``data_dir`` holds
    the locally converted ONNX model (``runtime = "onnx"``)."""
    model = _build_model(settings, data_dir)
    if settings.query_batch_wait_ms <= 0 or settings.query_batch_max <= 1:
        return model
    from awsomechat.embed.batching import BatchingEmbedder

    return BatchingEmbedder(model, wait_ms=settings.query_batch_wait_ms, max_batch=settings.query_batch_max)


def _build_model(settings: EmbedderSettings, data_dir: Path | None) -> Embedder:
    if settings.kind == "minilm" and settings.runtime == "onnx":
        from awsomechat.embed.minilm_onnx import MiniLMOnnxEmbedder
        from awsomechat.settings import default_data_dir

        return MiniLMOnnxEmbedder(settings, data_dir or default_data_dir())
    if settings.kind == "minilm":
        from awsomechat.embed.minilm import MiniLMEmbedder

        return MiniLMEmbedder(settings)
    if settings.kind == "e5":
        from awsomechat.embed.e5 import E5SmallEmbedder

        return E5SmallEmbedder(settings)
    raise AssertionError(f"unknown embedder kind {settings.kind!r}")  # settings validation prevents this
