"""The ONNX Runtime path for MiniLM: converted locally from the packaged weights, it gives the
same vectors as the PyTorch path (so an index built by either serves the other)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from awsomechat.embed import build_embedder
from awsomechat.embed.batching import BatchingEmbedder
from awsomechat.seams import Embedder
from awsomechat.settings import EmbedderSettings

pytest.importorskip("onnxruntime")
pytestmark = pytest.mark.timeout(600)
SCIFACT = Path(__file__).resolve().parents[2] / "shared" / "data" / "scifact" / "corpus.jsonl"


@pytest.fixture(scope="module")
def onnx_embedder(tmp_path_factory: pytest.TempPathFactory) -> Embedder:
    data_dir = tmp_path_factory.mktemp("onnx")
    embedder = build_embedder(EmbedderSettings(runtime="onnx"), data_dir=data_dir)
    assert (data_dir / "models" / "all-MiniLM-L6-v2.fp32.onnx").is_file()  # converted on first use
    return embedder


def _abstracts(n: int) -> list[str]:
    texts = []
    with SCIFACT.open() as f:
        for line in f:
            doc = json.loads(line)
            texts.append(f"{doc['title']}\n{doc['text']}")
            if len(texts) == n:
                break
    return texts


def test_onnx_vectors_match_torch(onnx_embedder: Embedder, embedder: Embedder) -> None:
    assert isinstance(onnx_embedder, BatchingEmbedder)  # queries are batched on this path too
    assert onnx_embedder.name == embedder.name and onnx_embedder.dim == embedder.dim == 384
    passages = _abstracts(24)  # long: truncated at 256 word pieces by both
    a = onnx_embedder.embed_passages(passages)
    b = embedder.embed_passages(passages)
    assert a.shape == b.shape == (24, 384)
    assert float(np.min(np.sum(a * b, axis=1))) > 0.99999
    for q in ("bone density in older adults", "What is the role of TNF in sepsis?"):
        assert float(np.dot(onnx_embedder.embed_query(q), embedder.embed_query(q))) > 0.99999
    assert onnx_embedder.count_tokens(passages[0]) == embedder.count_tokens(passages[0])
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
