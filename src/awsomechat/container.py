"""The composition root: builds every service from settings, lazily, once per process.

The CLI, the API and tests ask the container for what they need; nothing else constructs
adapters. Heavy parts (database pool, embedding model) are created on first use.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any

from awsomechat.settings import LlamaCppSettings, Settings, load_settings

if TYPE_CHECKING:
    from awsomechat.auth.keys_pg import PgKeyStore
    from awsomechat.auth.oidc import OidcService
    from awsomechat.auth.sessions_pg import PgSessionStore
    from awsomechat.chat.service import ChatService
    from awsomechat.ingest.jobs import IngestJobRunner
    from awsomechat.ingest.jobs_pg import PgJobStore
    from awsomechat.ingest.pipeline import IngestionService
    from awsomechat.ingest.queue import IngestQueue
    from awsomechat.ingest.worker import QueuedJobRunner
    from awsomechat.seams import ChatModel, ConversationStore, Embedder, RelevanceJudge, Retriever
    from awsomechat.store.database import Database
    from awsomechat.store.documents import DocumentStore
    from awsomechat.store.index_meta import IndexGuard
    from awsomechat.store.reindex import Reindexer
    from awsomechat.store.search import SearchQueries
    from awsomechat.text.analyzer import Analyzer


def _pg_memory(c: Container) -> ConversationStore:
    from awsomechat.chat.memory_pg import PgConversationStore

    return PgConversationStore(c.database)


def _dynamodb_memory(c: Container) -> ConversationStore:
    from awsomechat.chat.memory_dynamodb import DynamoDBConversationStore

    return DynamoDBConversationStore.from_settings(c.settings.memory)


# memory.kind -> builder; a new backend is one entry here (the settings Literal names it too).
_MEMORY_BACKENDS: dict[str, Callable[[Container], ConversationStore]] = {
    "postgres": _pg_memory,
    "dynamodb": _dynamodb_memory,
}


def _hybrid_retriever(c: Container) -> tuple[Retriever, RelevanceJudge]:
    from awsomechat.chat.abstain import RelevanceGate
    from awsomechat.retrieval.hybrid import HybridRetriever

    s = c.settings
    retriever = HybridRetriever(c.search_queries, c.index_guard, c.get_embedder, c.analyzer, s.retrieval)
    judge = RelevanceGate(
        c.search_queries, c.analyzer, min_dense=s.chat.min_dense, min_coverage=s.chat.min_coverage
    )
    return retriever, judge


def _kendra_retriever(c: Container) -> tuple[Retriever, RelevanceJudge]:
    from awsomechat.chat.abstain_kendra import KendraConfidenceJudge
    from awsomechat.retrieval.kendra import KendraRetriever
    from awsomechat.settings_retriever import KendraRetrieverSettings

    s = c.settings.retriever
    assert isinstance(s, KendraRetrieverSettings)
    retriever = KendraRetriever(s, c.analyzer, excerpt_chars=c.settings.retrieval.excerpt_chars)
    return retriever, KendraConfidenceJudge(c.analyzer, min_confidence=s.min_confidence)


# retriever.kind -> (retriever, its answerability judge), calibrated per backend.
_RETRIEVER_BACKENDS: dict[str, Callable[[Container], tuple[Retriever, RelevanceJudge]]] = {
    "hybrid": _hybrid_retriever,
    "kendra": _kendra_retriever,
}


class Container:
    """Holds the services of one process. ``close()`` releases the database pool."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        embedder: Embedder | None = None,
        chat_model: ChatModel | None = None,
    ) -> None:
        self.settings = settings or load_settings()
        # Models load once even when a warm-up thread and a request ask at the same moment.
        self._model_lock = threading.RLock()
        # Tests and benchmarks share loaded models across containers.
        if embedder is not None:
            self.__dict__["embedder"] = embedder
        if chat_model is not None:
            self.__dict__["chat_model"] = chat_model

    @cached_property
    def database(self) -> Database:
        from awsomechat.store.database import open_database

        return open_database(self.settings.database, self.settings.data_dir)

    @cached_property
    def documents(self) -> DocumentStore:
        from awsomechat.store.documents import DocumentStore

        return DocumentStore(self.database)

    @cached_property
    def index_guard(self) -> IndexGuard:
        from awsomechat.store.index_meta import IndexGuard

        return IndexGuard(self.database, self.settings.database)

    @cached_property
    def conversations(self) -> ConversationStore:
        """The configured conversation memory (``memory.kind``)."""
        return _MEMORY_BACKENDS[self.settings.memory.kind](self)

    @cached_property
    def search_queries(self) -> SearchQueries:
        from awsomechat.store.search import SearchQueries

        return SearchQueries(self.database, self.settings.database)

    @cached_property
    def analyzer(self) -> Analyzer:
        from awsomechat.text.analyzer import Analyzer

        return Analyzer(self.settings.retrieval.bm25_context_weight)

    @cached_property
    def embedder(self) -> Embedder:
        from awsomechat.embed import build_embedder

        return build_embedder(self.settings.embedder, data_dir=self.settings.data_dir)

    @property
    def embedder_loaded(self) -> bool:
        return "embedder" in self.__dict__

    def get_embedder(self) -> Embedder:
        """Callable form for services that load the model only when they need it."""
        if "embedder" in self.__dict__:
            return self.embedder
        with self._model_lock:
            return self.embedder

    @cached_property
    def _retrieval_backend(self) -> tuple[Retriever, RelevanceJudge]:
        return _RETRIEVER_BACKENDS[self.settings.retriever.kind](self)

    @property
    def retriever(self) -> Retriever:
        """The configured retriever (``retriever.kind``): search, the query API and the chain use it."""
        return self._retrieval_backend[0]

    @property
    def relevance_judge(self) -> RelevanceJudge:
        """The configured retriever's answerability signal (abstention before any model call)."""
        return self._retrieval_backend[1]

    @cached_property
    def ingestion(self) -> IngestionService:
        from awsomechat.ingest.loaders.registry import LoaderRegistry
        from awsomechat.ingest.loaders.zipcheck import ZipLimits
        from awsomechat.ingest.pipeline import IngestionService

        ing = self.settings.ingest
        return IngestionService(
            self.documents,
            self.index_guard,
            self.get_embedder,
            self.analyzer,
            LoaderRegistry(zip_limits=ZipLimits(ing.max_unzipped_bytes, ing.max_zip_ratio)),
            self.settings,
        )

    @cached_property
    def reindexer(self) -> Reindexer:
        from awsomechat.store.reindex import Reindexer

        return Reindexer(self.database, self.get_embedder, self.analyzer, self.settings.database)

    @cached_property
    def chat_model(self) -> ChatModel:
        from awsomechat.chat.models import build_chat_model

        return build_chat_model(self.settings)

    @property
    def chat_model_loaded(self) -> bool:
        return "chat_model" in self.__dict__

    def get_chat_model(self) -> ChatModel:
        """Callable form: the model loads on the first turn that needs it (not for abstentions)."""
        if self.chat_model_loaded:
            return self.chat_model
        with self._model_lock:
            return self.chat_model

    @property
    def warm_model_on_start(self) -> bool:
        """A GGUF model (or the runner's vocabulary) loads at start; remote models on first answer."""
        return isinstance(self.settings.llm, LlamaCppSettings)

    @property
    def runner_url(self) -> str | None:
        """The model runner this process generates through (set by ``serve``), if any."""
        llm = self.settings.llm
        return llm.runner_url if isinstance(llm, LlamaCppSettings) else None

    def model_status(self) -> dict[str, Any]:
        """The chat model's state for ``/readyz`` (a model runner reports pid, restarts, last error)."""
        from awsomechat.seams import ModelHealth

        if self.chat_model_loaded and isinstance(self.chat_model, ModelHealth):
            return self.chat_model.status()
        if self.chat_model_loaded:
            return {"state": "loaded", "ready": True}
        if self.runner_url:  # not connected yet: what the supervisor says
            from awsomechat.chat.models.runner_client import supervised_status

            return supervised_status(self.runner_url) or {"state": "connecting", "ready": False}
        if self.warm_model_on_start:  # an in-process model is loaded by the warm-up
            return {"state": "not loaded", "ready": False}
        return {"state": "loads on first answer", "ready": True}

    def check_model_available(self) -> None:
        """Raise ``ModelUnavailableError`` at once when the model could not answer now."""
        from awsomechat.seams import ModelHealth

        url = self.runner_url
        if url and not self.chat_model_loaded:  # the supervisor's word first: no model load to fail
            from awsomechat.chat.models.runner_client import raise_unless_ready, supervised_status

            status = supervised_status(url)
            if status is not None:
                raise_unless_ready(status, self.settings.api.retry_after_s)
        if url or self.chat_model_loaded:
            model = self.get_chat_model()
            if isinstance(model, ModelHealth):
                model.check_available()

    @cached_property
    def chat(self) -> ChatService:
        from awsomechat.chat.prompts import profiles_from_settings
        from awsomechat.chat.service import ChatService

        s = self.settings.chat
        return ChatService(
            self.retriever,
            self.conversations,
            self.get_chat_model,
            self.relevance_judge,
            s,
            self.settings.llm,
            profiles_from_settings(s.profiles),
        )

    @cached_property
    def keys(self) -> PgKeyStore:
        from awsomechat.auth.key_secrets import KeyBox
        from awsomechat.auth.keys_pg import PgKeyStore

        # Keys keep a sealed copy for SigV4 (/kendra); the KEK is loaded on first use.
        return PgKeyStore(self.database, KeyBox.from_settings(self.settings))

    @cached_property
    def sessions(self) -> PgSessionStore:
        """Browser sessions and single sign-on logins in flight."""
        from awsomechat.auth.sessions_pg import PgSessionStore

        return PgSessionStore(self.database)

    @cached_property
    def oidc(self) -> OidcService:
        """Single sign-on with the provider of ``auth.oidc`` (check ``auth.oidc.enabled`` first)."""
        from awsomechat.auth.oidc import OidcService
        from awsomechat.auth.oidc_tokens import OidcProvider
        from awsomechat.auth.oidc_users_pg import PgOidcUsers

        oidc = self.settings.auth.oidc
        provider = OidcProvider(oidc)
        return OidcService(oidc, provider, PgOidcUsers(self.database, provider.issuer))

    @cached_property
    def jobs(self) -> PgJobStore:
        from awsomechat.ingest.jobs_pg import PgJobStore

        return PgJobStore(self.database)

    @cached_property
    def ingest_jobs(self) -> IngestJobRunner | QueuedJobRunner:
        """Where uploads run (``jobs.executor``): in this process, or queued for workers."""
        if self.settings.jobs.executor == "worker":
            from awsomechat.ingest.worker import QueuedJobRunner

            return QueuedJobRunner(self.jobs, self.ingest_queue)
        from awsomechat.ingest.jobs import IngestJobRunner

        return IngestJobRunner(self.jobs, self.ingestion, self.documents)

    @cached_property
    def ingest_queue(self) -> IngestQueue:
        """The PostgreSQL queue that ``awsomechat worker`` processes drain."""
        from awsomechat.ingest.queue import IngestQueue

        return IngestQueue(self.database)

    def close(self, *, job_grace_s: float | None = None) -> None:
        """Release everything; a running ingestion job gets ``job_grace_s`` (None: until it ends)."""
        if "ingest_jobs" in self.__dict__:
            self.ingest_jobs.close(job_grace_s)
        if "oidc" in self.__dict__:
            self.oidc.close()
        if "database" in self.__dict__:
            self.database.close()

    def __enter__(self) -> Container:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
