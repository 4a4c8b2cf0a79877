"""Settings of the retriever backends (``[retriever]``, ``AWSOMECHAT_RETRIEVER__*``), one class per
``kind``. The hybrid retriever's tuning (RRF, BM25, HNSW, reranker) stays under ``[retrieval]``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

CONFIDENCE_LEVELS = ("NOT_AVAILABLE", "LOW", "MEDIUM", "HIGH", "VERY_HIGH")
# boto3 checks that an IndexId has 36 characters before sending anything, so the index of an
# AWSomeChat /kendra endpoint has a 36-character name too ("awsomechat" is accepted as well).
KENDRA_COMPAT_INDEX_ID = "00000000-0000-0000-0000-00awsomechat"


class HybridRetrieverSettings(BaseModel):
    """Ours: dense vectors + BM25 in PostgreSQL, fused (tuned under ``[retrieval]``)."""

    kind: Literal["hybrid"] = "hybrid"


class KendraRetrieverSettings(BaseModel):
    """An Amazon Kendra index (or an AWSomeChat ``/kendra`` endpoint), through boto3 (``aws`` extra).

    Region, credentials and endpoint come from the standard AWS environment (``AWS_REGION``,
    ``AWS_ACCESS_KEY_ID``/profiles/roles, ``AWS_ENDPOINT_URL_KENDRA``).
    """

    kind: Literal["kendra"] = "kendra"
    index_id: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{35}$",
        description="the Kendra index id (36 characters; an AWSomeChat /kendra endpoint answers to"
        f" {KENDRA_COMPAT_INDEX_ID})",
    )
    api: Literal["retrieve", "query"] = Field(
        default="retrieve",
        description="retrieve: passages of up to 200 words (Query is the fallback when Retrieve is not"
        " available or finds nothing); query: Query only (excerpts, FAQ answers)",
    )
    min_confidence: Literal["LOW", "MEDIUM", "HIGH", "VERY_HIGH"] = Field(
        default="MEDIUM",
        description="abstain when the best result's ScoreConfidence is below this (calibrate with"
        " `awsomechat eval abstention`)",
    )
    user_context: bool = Field(
        default=True,
        description="send the caller's groups as UserContext.Groups (Kendra's token/group access"
        " control); administrators send none",
    )
    timeout_s: float = Field(default=10.0, gt=0, le=300)


KENDRA_MAX_PAGE = 100  # Retrieve's largest PageSize (Query's is 100 too)

RETRIEVER_KINDS = ("hybrid", "kendra")
RetrieverSettings = Annotated[HybridRetrieverSettings | KendraRetrieverSettings, Field(discriminator="kind")]
