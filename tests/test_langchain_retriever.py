"""AwsomeChatRetriever against a live server: LangChain Documents with the passage and its
metadata, sync and async, inside an LCEL chain, and the key's access groups applied."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.documents import Document
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompt_values import PromptValue
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda, RunnablePassthrough

from awsomechat.client import AsyncAwsomeChatClient, AwsomeChatClient
from awsomechat.integrations.langchain import AwsomeChatRetriever
from awsomechat.seams import Embedder
from tests.api.conftest import ARTIFACTS, seed
from tests.live import LiveServer, live_server

PAYROLL_Q = "When are salaries paid at Octank?"


@pytest.fixture(scope="module")
def server(data_dir: Path, embedder: Embedder) -> Iterator[LiveServer]:
    with live_server(data_dir, embedder, ARTIFACTS / "logs", setup=seed) as s:
        yield s


def test_documents_carry_the_passage_and_its_metadata(server: LiveServer) -> None:
    with AwsomeChatClient(server.url, server.admin_key) as client:
        docs = AwsomeChatRetriever(client=client, k=2).invoke("lambda deployment package size")
    assert len(docs) == 2 and all(isinstance(d, Document) for d in docs)
    top = docs[0]
    assert "50 MB zipped" in top.page_content
    meta = top.metadata
    assert meta["uri"] == "test://kb/lambda.md" and meta["title"] == "Lambda quotas"
    assert (
        isinstance(meta["chunk_id"], str)
        and meta["chunk_id"] == top.id
        and isinstance(meta["document_id"], str)
    )
    assert meta["attributes"] == {"service": "aws"} and meta["rank"] == 1
    assert meta["score"] == meta["scores"]["fused"] > 0 and meta["scores"]["bm25_rank"] == 1


def test_access_groups_and_filters_apply(server: LiveServer) -> None:
    plain = AwsomeChatClient(server.url, server.create_user("lc-plain"))
    finance = AwsomeChatClient(server.url, server.create_user("lc-finance", groups=("finance",)))
    with plain, finance:
        assert "Payroll calendar" in {
            d.metadata["title"] for d in AwsomeChatRetriever(client=finance).invoke(PAYROLL_Q)
        }
        assert "Payroll calendar" not in {
            d.metadata["title"] for d in AwsomeChatRetriever(client=plain).invoke(PAYROLL_Q)
        }
        only_vpn = AwsomeChatRetriever(client=finance, filters={"uri": "test://kb/vpn.md"}, k=10)
        assert {d.metadata["uri"] for d in only_vpn.invoke(PAYROLL_Q)} <= {"test://kb/vpn.md"}
        widened = AwsomeChatRetriever(client=plain, filters={"attributes.team": "finance"})
        assert widened.invoke(PAYROLL_Q) == []


def _format(docs: list[Document]) -> str:
    return "\n\n".join(
        f"[{i}] {d.metadata['title']} ({d.metadata['uri']})\n{d.page_content}" for i, d in enumerate(docs, 1)
    )


def test_in_a_chain_sync_and_async(server: LiveServer) -> None:
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Answer from the sources and cite them as [n].\n\n{context}"), ("human", "{question}")]
    )
    seen: list[str] = []

    def model(value: PromptValue) -> str:  # stands in for the chat model: what would it be asked?
        text = value.to_string()
        seen.append(text)
        return text

    async def run(retriever: AwsomeChatRetriever) -> list[str]:
        chain = (
            {"context": retriever | _format, "question": RunnablePassthrough()}
            | prompt
            | RunnableLambda(model)
            | StrOutputParser()
        )
        return await chain.abatch(["How large can a Lambda deployment package be?", "VPN tunnel bandwidth"])

    with AwsomeChatClient(server.url, server.admin_key) as client:
        retriever = AwsomeChatRetriever(client=client, k=1)
        chain = (
            {"context": retriever | _format, "question": RunnablePassthrough()}
            | prompt
            | RunnableLambda(model)
        )
        out = chain.invoke("How large can a Lambda deployment package be?")
        assert "[1] Lambda quotas (test://kb/lambda.md)" in out and "250 MB unzipped" in out
        # ainvoke with only a sync client runs it in a thread
        threaded = asyncio.run(retriever.ainvoke("VPN tunnel bandwidth"))
        assert threaded[0].metadata["title"] == "Site-to-site VPN"

    async def with_async_client() -> list[str]:
        async with AsyncAwsomeChatClient(server.url, server.admin_key) as aclient:
            return await run(AwsomeChatRetriever(async_client=aclient, k=1))

    answers = asyncio.run(with_async_client())
    assert "Lambda quotas" in answers[0] and "Site-to-site VPN" in answers[1] and "1.25 Gbps" in answers[1]
    only_async = AwsomeChatRetriever(async_client=AsyncAwsomeChatClient(server.url, server.admin_key))
    with pytest.raises(RuntimeError, match="ainvoke"):
        only_async.invoke("lambda")
    with pytest.raises(ValueError, match="needs a client"):
        AwsomeChatRetriever()
