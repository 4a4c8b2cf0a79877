"""The retriever contract (``awsomechat.testing.retriever``) against every backend: the hybrid
retriever on PostgreSQL, and Kendra through real boto3 clients against a wire-format fake."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from awsomechat.chat.abstain_kendra import KendraConfidenceJudge
from awsomechat.container import Container
from awsomechat.retrieval.kendra import KendraRetriever
from awsomechat.settings_retriever import KendraRetrieverSettings
from awsomechat.testing.retriever import CORPUS, RetrieverBackend, RetrieverContract
from awsomechat.text.analyzer import Analyzer
from tests.aws_fakes.kendra_server import INDEX_ID, FakeDocument, KendraFake, kendra_server
from tests.helpers import ingest_texts
from tests.moto_aws import aws_client


class TestHybridRetriever(RetrieverContract):
    @pytest.fixture
    def backend(self, container: Container) -> RetrieverBackend:
        for doc in CORPUS:
            ingest_texts(
                container, {f"{doc.key}.md": f"# {doc.title}\n\n{doc.text}\n"},
                attributes=doc.attributes, groups=doc.groups,
            )  # fmt: skip
        uris = {d.key: f"test://kb/{d.key}.md" for d in CORPUS}
        return RetrieverBackend(container.retriever, container.relevance_judge, uris)


def fake_documents() -> list[FakeDocument]:
    return [
        FakeDocument(
            d.key, d.title, f"https://docs.example.com/{d.key}", d.text, dict(d.attributes), d.groups
        )
        for d in CORPUS
    ]


@pytest.fixture
def kendra_fake() -> Iterator[tuple[KendraFake, str]]:
    fake = KendraFake(documents=fake_documents())
    with kendra_server(fake) as url:
        yield fake, url


def kendra_backend(url: str, **settings: object) -> RetrieverBackend:
    s = KendraRetrieverSettings(index_id=INDEX_ID, **settings)  # type: ignore[arg-type]
    retriever = KendraRetriever(s, Analyzer(), client=aws_client("kendra", url, attempts=1))
    uris = {d.key: f"https://docs.example.com/{d.key}" for d in CORPUS}
    return RetrieverBackend(
        retriever, KendraConfidenceJudge(Analyzer(), min_confidence=s.min_confidence), uris
    )


class TestKendraRetrieve(RetrieverContract):
    @pytest.fixture
    def backend(self, kendra_fake: tuple[KendraFake, str]) -> RetrieverBackend:
        return kendra_backend(kendra_fake[1])


class TestKendraQuery(RetrieverContract):
    @pytest.fixture
    def backend(self, kendra_fake: tuple[KendraFake, str]) -> RetrieverBackend:
        return kendra_backend(kendra_fake[1], api="query")
