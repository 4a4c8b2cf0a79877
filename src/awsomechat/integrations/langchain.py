"""``AwsomeChatRetriever``: an AWSomeChat service as a LangChain retriever.

    from awsomechat.client import AwsomeChatClient
    from awsomechat.integrations.langchain import AwsomeChatRetriever

    retriever = AwsomeChatRetriever(client=AwsomeChatClient(url, key), k=4,
                                    filters={"attributes.service": "lambda"})
    docs = retriever.invoke("deployment package size")   # or await retriever.ainvoke(...)

Each passage becomes a ``Document`` whose ``page_content`` is the passage text and whose
``metadata`` holds ``uri``, ``title``, ``chunk_id``, ``document_id``, ``rank``, ``score`` (the
fused score), ``scores`` (each retriever's score and rank), ``attributes``, ``heading_path``,
``page``, ``source`` and ``excerpt``. The key's access applies: the retriever sees exactly what
the key may read, and ``filters`` only narrow that.
"""

from __future__ import annotations

import asyncio
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field, model_validator

from awsomechat.client import AsyncAwsomeChatClient, AwsomeChatClient, Passage
from awsomechat.client.models import Filters


def passage_document(p: Passage) -> Document:
    """The LangChain ``Document`` of one passage."""
    return Document(
        page_content=p.text,
        id=p.chunk_id,
        metadata={
            "uri": p.uri,
            "title": p.title,
            "chunk_id": p.chunk_id,
            "document_id": p.document_id,
            "rank": p.rank,
            "score": p.scores.fused,
            "scores": p.scores.to_dict(),
            "attributes": dict(p.attributes),
            "heading_path": list(p.heading_path),
            "page": p.page,
            "source": p.source,
            "excerpt": p.excerpt,
        },
    )


class AwsomeChatRetriever(BaseRetriever):
    """Passages from AWSomeChat's hybrid search (dense + BM25), best first.

    Give a sync ``client`` (:class:`AwsomeChatClient`), an ``async_client``
    (:class:`AsyncAwsomeChatClient`), or both. ``invoke`` needs the sync one; ``ainvoke`` uses the
    async one, or runs the sync one in a thread.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    client: AwsomeChatClient | None = None
    async_client: AsyncAwsomeChatClient | None = None
    k: int = Field(default=5, ge=1, le=100, description="passages per query")
    filters: Any = Field(default=None, description="metadata filters, as for AwsomeChatClient.query")
    mode: str = Field(default="hybrid", description="hybrid, dense or bm25")

    @model_validator(mode="after")
    def _one_client(self) -> AwsomeChatRetriever:
        if self.client is None and self.async_client is None:
            raise ValueError("AwsomeChatRetriever needs a client (AwsomeChatClient) or an async_client")
        return self

    @property
    def _filters(self) -> Filters:
        return self.filters  # type: ignore[no-any-return]

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        if self.client is None:
            raise RuntimeError("this retriever has only an async_client: use ainvoke")
        passages = self.client.query(query, k=self.k, filters=self._filters, mode=self.mode)
        return [passage_document(p) for p in passages]

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> list[Document]:
        if self.async_client is None:
            assert self.client is not None
            passages = await asyncio.to_thread(
                self.client.query, query, k=self.k, filters=self._filters, mode=self.mode
            )
        else:
            passages = await self.async_client.query(query, k=self.k, filters=self._filters, mode=self.mode)
        return [passage_document(p) for p in passages]
