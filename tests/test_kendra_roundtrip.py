"""The Kendra retriever against a second AWSomeChat's ``/kendra``: the retriever contract, through
real boto3 clients signing with API keys, over the wire format both sides implement.

On ``/kendra`` access is the signing key's (UserContext is ignored there), so each access scope of
the contract is a user of its own: no groups, ``hr``, ``finance``, and the administrator.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from awsomechat.chat.abstain_kendra import KendraConfidenceJudge
from awsomechat.container import Container
from awsomechat.retrieval.kendra import KendraRetriever
from awsomechat.seams import Embedder
from awsomechat.settings_retriever import KENDRA_COMPAT_INDEX_ID, KendraRetrieverSettings
from awsomechat.testing.retriever import CORPUS, RetrieverBackend, RetrieverContract
from awsomechat.text.analyzer import Analyzer
from awsomechat.types import AccessScope, SearchRequest, SearchResponse
from tests.helpers import ingest_texts
from tests.live import LiveServer, live_server

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def _seed(c: Container) -> None:
    for doc in CORPUS:
        ingest_texts(
            c,
            {f"{doc.key}.md": f"# {doc.title}\n\n{doc.text}\n"},
            attributes=doc.attributes,
            groups=doc.groups,
        )


@pytest.fixture(scope="module")
def upstream(data_dir: Path, embedder: Embedder) -> Iterator[LiveServer]:
    with live_server(data_dir, embedder, ARTIFACTS / "logs", setup=_seed) as s:
        yield s


def _kendra_for(url: str, key: str) -> KendraRetriever:
    client = boto3.session.Session().client(
        "kendra", endpoint_url=f"{url}/kendra", region_name="us-east-1",
        aws_access_key_id=key[:12], aws_secret_access_key=key,
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}, read_timeout=120),
    )  # fmt: skip
    return KendraRetriever(
        KendraRetrieverSettings(index_id=KENDRA_COMPAT_INDEX_ID), Analyzer(), client=client
    )


class _PerCaller:
    """Searches with the credentials of the caller the request's scope stands for."""

    def __init__(self, by_scope: dict[AccessScope, KendraRetriever]) -> None:
        self._by_scope = by_scope

    def search(self, request: SearchRequest) -> SearchResponse:
        return self._by_scope[request.access].search(request)


@pytest.fixture(scope="module")
def roundtrip(upstream: LiveServer) -> RetrieverBackend:
    scopes = {
        AccessScope.public(): upstream.create_user("rt_public"),
        AccessScope(groups=frozenset({"hr"})): upstream.create_user("rt_hr", groups=("hr",)),
        AccessScope(groups=frozenset({"finance"})): upstream.create_user("rt_fin", groups=("finance",)),
        AccessScope.admin(): upstream.admin_key,
    }
    retriever = _PerCaller({scope: _kendra_for(upstream.url, key) for scope, key in scopes.items()})
    judge = KendraConfidenceJudge(Analyzer(), min_confidence="MEDIUM")
    return RetrieverBackend(retriever, judge, {d.key: f"test://kb/{d.key}.md" for d in CORPUS})


class TestKendraRetrieverOnAwsomechat(RetrieverContract):
    @pytest.fixture
    def backend(self, roundtrip: RetrieverBackend) -> RetrieverBackend:
        return roundtrip
