"""One typed settings tree, read from ``AWSOMECHAT_*`` variables and an optional TOML file.

Nested fields use ``__``: ``AWSOMECHAT_RETRIEVAL__BM25_K1=1.2``. The config file is named by
``AWSOMECHAT_CONFIG_FILE`` (or ``<data dir>/config.toml`` when it exists); environment variables
win over the file. Nothing here is built at import time: callers construct ``Settings()``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from awsomechat.errors import ConfigError
from awsomechat.settings_retriever import RETRIEVER_KINDS, HybridRetrieverSettings, RetrieverSettings

ENV_PREFIX = "AWSOMECHAT_"


def default_data_dir() -> Path:
    """Per-user data folder (``~/.local/share/awsomechat`` on Linux)."""
    import platformdirs

    return Path(platformdirs.user_data_dir("awsomechat", appauthor=False))


class DatabaseSettings(BaseModel):
    """Where documents live. No URL means the embedded PostgreSQL in the data directory."""

    url: SecretStr | None = Field(
        default=None,
        description="postgresql:// URL of a PostgreSQL >= 15 with pgvector; empty = embedded server",
    )
    read_url: SecretStr | None = Field(
        default=None,
        description="postgresql:// URL of a read replica for retrieval and other reads that need not"
        " see their own writes at once; empty = every read on the primary",
    )
    name: str = Field(default="awsomechat", description="database created in the embedded server")
    pool_min: int = Field(default=1, ge=1)
    pool_max: int = Field(default=8, ge=1)
    connect_timeout_s: float = Field(default=10.0, gt=0)
    checkout_timeout_s: float = Field(
        default=5.0, gt=0, description="longest wait for a pooled connection before a request fails (503)"
    )
    hnsw_m: int = Field(default=16, ge=4, le=100)
    hnsw_ef_construction: int = Field(default=200, ge=8, le=1000)
    hnsw_ef_search: int = Field(default=200, ge=1, le=1000)
    hnsw_max_scan_tuples: int = Field(default=50_000, ge=1000)

    @model_validator(mode="after")
    def _pool_bounds(self) -> DatabaseSettings:
        if self.pool_min > self.pool_max:
            raise ValueError("pool_min must not exceed pool_max")
        if self.url is not None and not self.url.get_secret_value().startswith(
            ("postgresql://", "postgres://")
        ):
            raise ValueError("url must start with postgresql://")
        if self.read_url is not None and not self.read_url.get_secret_value().startswith(
            ("postgresql://", "postgres://")
        ):
            raise ValueError("read_url must start with postgresql://")
        return self


class EmbedderSettings(BaseModel):
    """Which sentence-embedding model turns passages and queries into vectors."""

    kind: Literal["minilm", "e5"] = Field(
        default="minilm", description="minilm: all-MiniLM-L6-v2 (torch); e5: multilingual-e5-small (C)"
    )
    batch_size: int = Field(default=32, ge=1, le=1024)
    threads: int | None = Field(default=None, ge=1, description="CPU threads; default = all cores")
    max_seq_tokens: int = Field(default=256, ge=16, le=512)
    query_batch_wait_ms: float = Field(
        default=2.0,
        ge=0,
        le=100,
        description="longest a query waits for others to share one embedder call (0 = no batching)",
    )
    query_batch_max: int = Field(default=32, ge=1, le=256, description="most queries in one batch")
    runtime: Literal["torch", "onnx"] = Field(
        default="torch",
        description="minilm only: torch, or onnx (ONNX Runtime on a model converted locally from the"
        " packaged weights; same vectors; the onnx extra)",
    )
    onnx_path: Path | None = Field(
        default=None,
        description="the converted ONNX model; default <data dir>/models/all-MiniLM-L6-v2.fp32.onnx",
    )


class ChunkingSettings(BaseModel):
    """How documents are cut into passages (counted in embedder tokens)."""

    max_tokens: int = Field(default=200, ge=32, le=512)
    overlap_tokens: int = Field(default=32, ge=0)
    min_tokens: int = Field(default=24, ge=0)
    split_tables: bool = Field(
        default=True,
        description="cut a long table by rows, each passage under the table's caption and header row",
    )

    @model_validator(mode="after")
    def _overlap_fits(self) -> ChunkingSettings:
        if self.overlap_tokens >= self.max_tokens // 2:
            raise ValueError("overlap_tokens must be less than half of max_tokens")
        return self


class IngestSettings(BaseModel):
    """Limits and defaults for ingestion."""

    max_file_mb: float = Field(default=50.0, gt=0)
    max_unzipped_mb: float = Field(
        default=100.0, gt=0, description="largest size a DOCX may inflate to (decompression bombs)"
    )
    max_zip_ratio: float = Field(
        default=100.0, gt=1, description="largest compression ratio of a DOCX part over 1 MB inflated"
    )
    crawl_depth: int = Field(default=0, ge=0, le=10)
    crawl_max_pages: int = Field(default=100, ge=1, le=100_000)
    http_timeout_s: float = Field(default=20.0, gt=0)
    user_agent: str = "AWSomeChat-ingest/0.1 (+self-hosted)"

    @property
    def max_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)

    @property
    def max_unzipped_bytes(self) -> int:
        return int(self.max_unzipped_mb * 1024 * 1024)


class JobsSettings(BaseModel):
    """Where ingestion jobs (uploads, ``ingest --queue``) run."""

    executor: Literal["inline", "worker"] = Field(
        default="inline",
        description="inline: in the API process that received the upload; worker: queued in"
        " PostgreSQL for `awsomechat worker` processes on any machine",
    )
    max_attempts: int = Field(
        default=3, ge=1, le=20, description="runs of a job (or of one file) before it is failed"
    )
    stalled_after_s: float = Field(
        default=30.0, gt=0, description="a job whose worker sent no heartbeat this long is run again"
    )
    heartbeat_s: float = Field(default=10.0, gt=0, description="how often a worker says it is alive")
    poll_s: float = Field(default=5.0, gt=0, description="how often an idle worker looks for jobs")
    files_per_job: int = Field(default=50, ge=1, le=10_000, description="`ingest --queue`: files per job")

    @model_validator(mode="after")
    def _heartbeat_within_stall(self) -> JobsSettings:
        if self.heartbeat_s >= self.stalled_after_s:
            raise ValueError("heartbeat_s must be less than stalled_after_s")
        return self


class RerankerSettings(BaseModel):
    """Optional second-stage reranker over the fused candidates."""

    kind: Literal["none"] = Field(
        default="none",
        description="none (no packaged cross-encoder exists; see README 'Reranking')",
    )
    top_n: int = Field(default=30, ge=1, le=500)


class RetrievalSettings(BaseModel):
    """Hybrid retrieval: BM25 + dense candidates fused by weighted reciprocal rank fusion."""

    bm25_k1: float = Field(default=0.9, ge=0)
    bm25_b: float = Field(default=0.4, ge=0, le=1)
    rrf_k: int = Field(default=60, ge=1)
    dense_weight: float = Field(default=1.0, ge=0)
    bm25_weight: float = Field(default=1.0, ge=0)
    candidates: int = Field(default=100, ge=1, le=2000, description="per retriever, before fusion")
    bm25_context_weight: int = Field(
        default=1, ge=1, le=10,
        description="how many times a passage's title and heading terms count in BM25 (a BM25F field"
        " weight; changing it needs `awsomechat reindex`, which keeps the vectors)",
    )  # fmt: skip
    duplicate_similarity: float = Field(
        default=0.8, gt=0, le=1,
        description="passages this similar (word 3-gram Jaccard) to a better-ranked one are left out;"
        " 1 turns this off",
    )  # fmt: skip
    passages_per_document: int = Field(
        default=0, ge=0, le=100,
        description="a document's passages beyond its best N rank after every other document's"
        " best (nothing is dropped); 0 keeps the fused order",
    )  # fmt: skip
    top_k: int = Field(default=10, ge=1, le=1000)
    excerpt_chars: int = Field(default=300, ge=50, le=5000)
    reranker: RerankerSettings = Field(default_factory=RerankerSettings)

    @model_validator(mode="after")
    def _some_weight(self) -> RetrievalSettings:
        if self.dense_weight == 0 and self.bm25_weight == 0:
            raise ValueError("dense_weight and bm25_weight cannot both be 0")
        return self


class ChatModelSettings(BaseModel):
    """What every chat-model backend shares; one subclass per ``llm.kind`` adds its own fields."""

    model_config = ConfigDict(extra="forbid")

    n_ctx: int = Field(default=4096, ge=512, le=131072, description="tokens the model attends to")
    temperature: float = Field(default=0.1, ge=0, le=2)
    max_answer_tokens: int = Field(default=200, ge=16, le=8192)
    request_timeout_s: float = Field(default=120.0, gt=0)


class LlamaCppSettings(ChatModelSettings):
    """A GGUF model run by llama.cpp: in the model runner under ``serve``, in-process in the CLI."""

    kind: Literal["llamacpp"] = "llamacpp"
    model: Literal["default", "small"] = Field(
        default="default",
        description="packaged GGUF: default = Qwen2.5-Coder-1.5B-Instruct Q4_K_M, small = SmolLM2-135M",
    )
    model_path: Path | None = Field(default=None, description="any other GGUF file (overrides model)")
    n_threads: int | None = Field(default=None, ge=1, description="default = all cores")
    n_batch: int = Field(default=512, ge=8, le=8192)
    extra_buffer_types: bool | None = Field(
        default=None,
        description="ggml's extra buffer types (weight repacking, AMX); default: off on x86-64 "
        "(faster prompts, less memory, measured) and for an AMX build on an AMX CPU (it crashes on "
        "Q4_K models), on elsewhere",
    )
    runner: bool = Field(
        default=True,
        description="serve runs the model in one supervised model-runner process shared by every "
        "worker (false: each worker loads the model itself)",
    )
    runner_url: str | None = Field(
        default=None,
        description="the model runner to use (unix:///path.sock or http://host:port); set by serve, "
        "or point it at a runner started with `awsomechat model-runner`",
    )
    api_key: SecretStr | None = Field(
        default=None, description="bearer token a runner on a TCP port requires (and clients send)"
    )
    runner_max_restarts: int = Field(
        default=5, ge=0, description="crashes within runner_restart_window_s before the runner stays down"
    )
    runner_restart_window_s: float = Field(default=300.0, gt=0)
    runner_backoff_max_s: float = Field(default=30.0, gt=0, description="longest wait before a restart")
    runner_start_timeout_s: float = Field(
        default=300.0, gt=0, description="load + self-test time before a starting runner counts as failed"
    )


class OpenAISettings(ChatModelSettings):
    """Any OpenAI-compatible chat server (vLLM, TGI, llama.cpp server, Ollama, OpenAI)."""

    kind: Literal["openai"] = "openai"
    base_url: str = Field(default="http://127.0.0.1:8000/v1", description="OpenAI-compatible endpoint")
    api_key: SecretStr | None = Field(default=None, description="bearer token for the server")
    remote_model: str = Field(default="default", description="model name sent to the server")


class BedrockSettings(ChatModelSettings):
    """Amazon Bedrock's Converse API (region and credentials from the standard AWS environment)."""

    kind: Literal["bedrock"] = "bedrock"
    model_id: str = Field(min_length=1, description="e.g. anthropic.claude-3-haiku-20240307-v1:0")


class SageMakerSettings(ChatModelSettings):
    """A SageMaker real-time endpoint (region and credentials from the standard AWS environment)."""

    kind: Literal["sagemaker"] = "sagemaker"
    endpoint_name: str = Field(min_length=1)
    payload: Literal["tgi", "jumpstart-t5"] = Field(
        default="tgi",
        description="tgi: Hugging Face TGI/LMI containers (streamed); jumpstart-t5: the lab's FLAN-T5",
    )


LLM_KINDS = ("llamacpp", "openai", "bedrock", "sagemaker")
_UNION_TAGS = {"llm": LLM_KINDS, "retriever": RETRIEVER_KINDS}
LLMSettings = Annotated[
    LlamaCppSettings | OpenAISettings | BedrockSettings | SageMakerSettings, Field(discriminator="kind")
]


class ProfileSettings(BaseModel):
    """A user-defined prompt profile (``[chat.profiles.<name>]`` in the config file)."""

    description: str = ""
    system: str = Field(min_length=1)
    template: str = Field(
        default="Passages:\n{passages}\n\nQuestion: {question}\nAnswer, citing passages:",
        description="must contain {passages} and {question}",
    )
    abstain: str = "The documents I can search do not cover this."
    max_sentences: int | None = Field(
        default=None, ge=1, le=100, description="answer sentences kept at most (chat.enforce_length)"
    )

    @model_validator(mode="after")
    def _placeholders(self) -> ProfileSettings:
        for ph in ("{passages}", "{question}"):
            if ph not in self.template:
                raise ValueError(f"template must contain {ph}")
        return self


class ChatSettings(BaseModel):
    """The answer chain: rewriting, abstention, context packing, memory."""

    context_tokens: int = Field(
        default=1400, ge=200, le=100_000, description="budget for passages in the prompt"
    )
    max_passages: int = Field(default=5, ge=1, le=50)
    retrieve_k: int = Field(default=8, ge=1, le=100)
    history_tokens: int = Field(default=600, ge=0, le=100_000)
    history_turns: int = Field(default=6, ge=0, le=100)
    rewrite: Literal["auto", "always", "never"] = Field(
        default="auto", description="auto: rewrite follow-ups only when they lean on the conversation"
    )
    rewrite_method: Literal["topic", "model", "topic+model"] = Field(
        default="topic",
        description="topic: put the conversation's subject in (no model call); model: the chat model"
        " rewrites; topic+model: the subject for a pronoun, else the model (eval conversations)",
    )
    # Calibrated with `awsomechat eval abstention` on qa_dev + evaldata/unanswerable.jsonl (README).
    min_dense: float = Field(default=0.3, ge=-1, le=1, description="abstain below this top cosine similarity")
    min_coverage: float = Field(default=0.7, ge=0, le=1, description="abstain below this query-term coverage")
    # E-mails are judged request by request: calibrated with `awsomechat eval reply-gate` on
    # src/awsomechat/eval/data/emails_dev.jsonl, disjoint from the reported emails_eval.jsonl.
    email_min_dense: float = Field(
        default=0.32, ge=-1, le=1, description="e-mail requests: hand off below this top cosine similarity"
    )
    email_min_coverage: float = Field(
        default=0.2, ge=0, le=1, description="e-mail requests: hand off below this query-term coverage"
    )
    max_message_chars: int = Field(default=8000, ge=100, le=1_000_000)
    # Answer trust (docs/answer-trust.md): each sentence checked against the passage it cites
    # before it is streamed; thresholds tuned with `awsomechat eval claims` on the dev half.
    verify: Literal["off", "lexical", "model"] = Field(
        default="lexical",
        description="off: stream what the model writes; lexical: numbers, names and content terms of"
        " each sentence must be in the cited passage; model: lexical, then the chat model's yes/no",
    )
    verify_action: Literal["drop", "mark"] = Field(
        default="drop",
        description="an unsupported sentence: drop it, or mark it '(unverified)' without its citation"
        " (e-mail replies always drop)",
    )
    verify_correct: bool = Field(
        default=True,
        description="a sentence that says the opposite of a passage's sentence about the same thing"
        " ('Yes, you can ...' where it says 'You can't ...') is replaced by that sentence, cited;"
        " false drops (or marks) it like any other unsupported sentence",
    )
    verify_min_coverage: float = Field(
        default=0.6, ge=0, le=1, description="share of a sentence's content terms its passage must hold"
    )
    enforce_length: bool = Field(
        default=True, description="stop the answer at the profile's max_sentences (chat: 3)"
    )
    profiles: dict[str, ProfileSettings] = Field(default_factory=dict, description="extra prompt profiles")


class MemorySettings(BaseModel):
    """Where conversations (sessions, turns, feedback) are kept.

    ``dynamodb`` needs the ``aws`` extra; region, credentials and endpoint come from the standard
    AWS environment (``AWS_REGION``, ``AWS_ACCESS_KEY_ID``/profiles/roles,
    ``AWS_ENDPOINT_URL_DYNAMODB``), read by botocore itself.
    """

    kind: Literal["postgres", "dynamodb"] = Field(
        default="postgres", description="postgres: the shared database; dynamodb: one DynamoDB table"
    )
    table: str = Field(
        default="awsomechat-conversations",
        min_length=3,
        max_length=255,
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="DynamoDB table (created with TTL enabled when missing)",
    )
    ttl_days: int = Field(
        default=0,
        ge=0,
        le=36_500,
        description="DynamoDB: items expire this many days after their last write; 0 = never",
    )


_ASYMMETRIC_ALGS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]


def _check_url(name: str, url: str) -> None:
    """https, or http to a loopback host only (a test provider, a local callback)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{name} must be an http(s) URL, not {url!r}")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ValueError(f"{name} must use https (http only to a loopback address): {url!r}")


class OidcSettings(BaseModel):
    """Single sign-on with an OpenID Connect provider (Amazon Cognito, Okta, Entra ID, Keycloak, ...).

    No ``issuer`` = no SSO. With one, the web UI offers "Sign in with <provider_name>" (authorization
    code flow with PKCE) and the API accepts the provider's JWT access tokens beside API keys.
    """

    issuer: str | None = Field(
        default=None,
        description="the provider's issuer URL (discovery at <issuer>/.well-known/...); empty = off",
    )
    client_id: str = Field(default="", description="this application's client id at the provider")
    client_secret: SecretStr | None = Field(
        default=None, description="the client secret (none: a public client, PKCE only)"
    )
    scopes: list[str] = Field(default_factory=lambda: ["openid", "profile", "email"])
    redirect_urls: list[str] = Field(
        default_factory=list,
        description="the callback URLs registered at the provider, https://<host>/auth/oidc/callback;"
        " the one on the request's origin is used, else the first",
    )
    audiences: list[str] = Field(
        default_factory=list,
        description="accepted 'aud' values of access tokens (e.g. api://awsomechat); a token without"
        " one (Cognito) must carry client_id = client_id or one of these (other app clients)",
    )
    groups_claim: str = Field(
        default="groups", description="claim whose values become access groups (cognito:groups, a.b paths)"
    )
    admin_group: str | None = Field(default=None, description="members of this group are administrators")
    admin_claim: str | None = Field(
        default=None, description="a claim that, when true, makes an administrator"
    )
    username_claims: list[str] = Field(
        default_factory=lambda: ["preferred_username", "username", "cognito:username", "email"],
        description="claims tried in order for a new user's name (then sub); names already taken are skipped",
    )
    provider_name: str = Field(
        default="single sign-on", max_length=60, description="shown on the sign-in button"
    )
    algorithms: list[str] = Field(
        default_factory=lambda: list(_ASYMMETRIC_ALGS), description="accepted token signature algorithms"
    )
    leeway_s: int = Field(default=60, ge=0, le=600, description="clock skew allowed on exp/iat/nbf")
    jwks_refresh_min_s: float = Field(
        default=10.0, ge=0, description="least time between two key-set fetches for unknown key ids"
    )
    metadata_cache_s: float = Field(default=3600.0, ge=0, description="how long discovery and keys are kept")
    http_timeout_s: float = Field(default=10.0, gt=0)

    @property
    def enabled(self) -> bool:
        return bool(self.issuer)

    @model_validator(mode="after")
    def _complete(self) -> OidcSettings:
        if not self.issuer:
            return self
        self.issuer = self.issuer.rstrip("/")
        _check_url("issuer", self.issuer)
        if not self.client_id:
            raise ValueError("client_id is required with an issuer")
        if "openid" not in self.scopes:
            raise ValueError("scopes must include openid")
        for url in self.redirect_urls:
            _check_url("redirect_urls", url)
        bad = [a for a in self.algorithms if a not in _ASYMMETRIC_ALGS]
        if bad or not self.algorithms:
            raise ValueError(f"algorithms must be asymmetric ones of {', '.join(_ASYMMETRIC_ALGS)}: {bad}")
        return self


class AuthSettings(BaseModel):
    """Browser sessions and single sign-on (API keys need no settings)."""

    session_hours: float = Field(default=12.0, gt=0, le=24 * 90, description="a browser session's lifetime")
    cookie_secure: bool | None = Field(
        default=None, description="Secure cookies; default: when the request came over https"
    )
    oidc: OidcSettings = Field(default_factory=OidcSettings)


# Everything from the server itself, nothing inline, no framing (awsomechat.api.headers).
UI_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class ApiSettings(BaseModel):
    """The REST API and web UI service (``awsomechat serve``)."""

    host: str = Field(default="127.0.0.1", description="address to bind; 0.0.0.0 to serve the network")
    port: int = Field(default=8080, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64, description="server processes (each loads its own model)")
    local_mode: bool = Field(
        default=False,
        description="single-user mode without API keys; only allowed when bound to a loopback address",
    )
    local_user: str = Field(default="local", min_length=1, max_length=64)
    max_body_kb: int = Field(default=256, ge=1, le=102_400, description="largest JSON request body")
    max_upload_files: int = Field(default=20, ge=1, le=1000, description="files per upload request")
    rate_limit_per_minute: int = Field(
        default=120, ge=0, description="requests per API key per minute, across replicas; 0 = no limit"
    )
    generation_concurrency: int = Field(
        default=1, ge=1, le=64, description="answers generated at once per process (in-process model: 1)"
    )
    generation_queue_depth: int = Field(
        default=8, ge=0, le=10_000, description="answers that may wait per process; beyond it 503"
    )
    generation_queue_timeout_s: float = Field(default=300.0, gt=0, description="longest wait in the queue")
    retry_after_s: int = Field(default=5, ge=1, le=3600, description="Retry-After sent with 503 responses")
    cors_origins: list[str] = Field(
        default_factory=list, description="origins allowed by CORS (web UI elsewhere)"
    )
    ui: bool = Field(default=True, description="serve the web UI at /")
    public_url: str = Field(
        default="",
        max_length=2000,
        pattern=r"^$|^https?://[^\s/]+(/[^\s]*)?$",
        description="the address people open this service at (https://chat.example.com), for links to"
        " documents in answers; default: the address each request came to",
    )
    content_security_policy: str = Field(
        default=UI_CSP, min_length=1, description="Content-Security-Policy of the web UI and the API"
    )
    max_upload_mb: float = Field(default=200.0, gt=0, description="largest upload request (all files)")
    max_concurrent_uploads: int = Field(
        default=2, ge=1, le=1000, description="uploads read at once per process; beyond it 503"
    )
    shutdown_grace_s: float = Field(
        default=10.0, ge=0, le=3600,
        description="on shutdown, how long a running ingestion job may finish before it is marked "
        "interrupted",
    )  # fmt: skip
    header_timeout_s: float = Field(
        default=10.0, gt=0, le=3600, description="a request's headers must arrive within this (408)"
    )
    body_timeout_s: float = Field(
        default=30.0, gt=0, le=3600, description="longest pause between two pieces of a request body"
    )
    keep_alive_s: int = Field(default=5, ge=1, le=3600, description="idle keep-alive connections close after")
    max_connections: int = Field(
        default=512, ge=1, le=100_000, description="open connections per process; beyond it refused"
    )
    max_header_kb: int = Field(default=32, ge=1, le=1024, description="largest request head (line + headers)")
    key_encryption_key: SecretStr | None = Field(
        default=None,
        description="base64 of 32 random bytes (`openssl rand -base64 32`): encrypts the copy of each"
        " API key that SigV4 on /kendra needs; the same on every replica. Unset: a file generated"
        " in <data_dir>/secrets/",
    )

    @field_validator("key_encryption_key")
    @classmethod
    def _kek_is_32_bytes(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            decode_key_encryption_key(value.get_secret_value())
        return value

    @model_validator(mode="after")
    def _local_only_on_loopback(self) -> ApiSettings:
        if self.local_mode and not is_loopback_host(self.host):
            raise ValueError(
                f"local_mode (no API keys) is only allowed on a loopback address, not {self.host}"
            )
        return self

    @property
    def is_loopback(self) -> bool:
        return is_loopback_host(self.host)


def decode_key_encryption_key(text: str) -> bytes:
    """The 32 bytes of ``api.key_encryption_key`` (ValueError, naming the format, otherwise)."""
    import base64
    import binascii

    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ValueError("must be the base64 of 32 random bytes (e.g. `openssl rand -base64 32`)")
    return raw


def is_loopback_host(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Settings(BaseSettings):
    """The whole configuration of one AWSomeChat installation."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    data_dir: Path = Field(default_factory=default_data_dir)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    embedder: EmbedderSettings = Field(default_factory=EmbedderSettings)
    chunking: ChunkingSettings = Field(default_factory=ChunkingSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    jobs: JobsSettings = Field(default_factory=JobsSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    retriever: RetrieverSettings = Field(default_factory=HybridRetrieverSettings)
    llm: LLMSettings = Field(default_factory=LlamaCppSettings)
    chat: ChatSettings = Field(default_factory=ChatSettings)
    memory: MemorySettings = Field(default_factory=MemorySettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)

    @field_validator("llm", mode="before")
    @classmethod
    def _llm_kind_default(cls, value: Any) -> Any:
        """``AWSOMECHAT_LLM__MODEL=small`` alone means the default kind, llamacpp."""
        if isinstance(value, dict) and "kind" not in value:
            return {"kind": "llamacpp", **value}
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = config_file_path()
        if config_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)


def config_file_path() -> Path | None:
    """The TOML file in force: ``AWSOMECHAT_CONFIG_FILE``, else ``<data dir>/config.toml`` if present."""
    explicit = os.environ.get(f"{ENV_PREFIX}CONFIG_FILE")
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(
                f"config file {path} (from {ENV_PREFIX}CONFIG_FILE) does not exist",
                hint="create it or unset the variable",
            )
        return path
    data_dir = os.environ.get(f"{ENV_PREFIX}DATA_DIR")
    candidate = (Path(data_dir).expanduser() if data_dir else default_data_dir()) / "config.toml"
    return candidate if candidate.is_file() else None


def load_settings(**overrides: Any) -> Settings:
    """Build and validate settings, turning validation errors into one readable ConfigError."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            parts = [str(p) for p in err["loc"]]
            if len(parts) > 2 and parts[1] in _UNION_TAGS.get(parts[0], ()):
                del parts[1]  # the discriminated union's tag is not part of the variable's name
            loc = "__".join(parts).upper()
            problems.append(f"{ENV_PREFIX}{loc}: {err['msg']}")
        raise ConfigError(
            "invalid configuration:\n  " + "\n  ".join(problems),
            hint="fix the environment variable or config file entry named above",
        ) from None
    except Exception as exc:  # malformed TOML, unreadable file
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"could not read configuration: {exc}") from None


def masked_dump(settings: Settings) -> dict[str, Any]:
    """The effective configuration as plain data with every secret masked."""
    return settings.model_dump(mode="json")  # SecretStr serialises as '**********'
