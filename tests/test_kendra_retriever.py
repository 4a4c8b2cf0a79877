"""The Kendra retriever beyond the contract: what goes on the wire, fallbacks, errors, and the whole
service (CLI search, the query API, an answer and an abstention) on ``retriever.kind = kendra``.

Kendra is the wire-format fake of ``tests/aws_fakes/kendra_server.py``, reached by real boto3."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from awsomechat.errors import ConfigError, FilterError, RemoteStoreError, ValidationFailedError
from awsomechat.filters import make_condition
from awsomechat.retrieval.kendra import NO_GROUP, KendraRetriever
from awsomechat.retrieval.kendra_attributes import attribute_filter, conditions_of
from awsomechat.seams import Embedder
from awsomechat.settings import load_settings
from awsomechat.settings_retriever import KendraRetrieverSettings
from awsomechat.text.analyzer import Analyzer
from awsomechat.types import AccessScope, Condition, SearchRequest
from tests.aws_fakes.kendra_server import INDEX_ID, KendraFake, kendra_server
from tests.live import LiveServer, live_server
from tests.moto_aws import aws_client
from tests.test_retriever_contract import fake_documents

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
SQS_Q = "What is the default visibility timeout of an SQS queue?"


@pytest.fixture
def fake() -> Iterator[tuple[KendraFake, str]]:
    f = KendraFake(documents=fake_documents())
    with kendra_server(f) as url:
        yield f, url


def retriever(url: str, **kw: object) -> KendraRetriever:
    s = KendraRetrieverSettings(index_id=kw.pop("index_id", INDEX_ID), **kw)  # type: ignore[arg-type]
    return KendraRetriever(s, Analyzer(), client=aws_client("kendra", url, attempts=1))


def test_request_carries_filters_groups_and_pages(fake: tuple[KendraFake, str]) -> None:
    f, url = fake
    r = retriever(url)
    cond = (make_condition("team", "eq", "messaging"), make_condition("updated_at", "gte", "2024-01-01"))
    r.search(
        SearchRequest(text=SQS_Q, k=3, offset=3, filters=cond, access=AccessScope(frozenset({"b", "a"})))
    )
    sent = f.calls("Retrieve")[-1]
    assert sent["IndexId"] == INDEX_ID and sent["QueryText"] == SQS_Q
    assert sent["UserContext"] == {"Groups": ["a", "b"]}
    assert sent["PageSize"] == 3 and sent["PageNumber"] == 2
    first, second = sent["AttributeFilter"]["AndAllFilters"]
    assert first == {"EqualsTo": {"Key": "team", "Value": {"StringValue": "messaging"}}}
    assert second["GreaterThanOrEquals"]["Key"] == "_last_updated_at"
    stamp = second["GreaterThanOrEquals"]["Value"]["DateValue"]  # epoch seconds on the wire
    assert dt.datetime.fromtimestamp(stamp, tz=dt.UTC) == dt.datetime(2024, 1, 1, tzinfo=dt.UTC)

    r.search(SearchRequest(text=SQS_Q, access=AccessScope.public()))
    assert f.calls("Retrieve")[-1]["UserContext"] == {"Groups": [NO_GROUP]}  # Kendra takes no empty list
    r.search(SearchRequest(text=SQS_Q, access=AccessScope.admin()))
    assert "UserContext" not in f.calls("Retrieve")[-1]
    retriever(url, user_context=False).search(SearchRequest(text=SQS_Q, access=AccessScope.public()))
    assert "UserContext" not in f.calls("Retrieve")[-1]


def test_hits_are_passages_with_kendra_ids_and_confidence(fake: tuple[KendraFake, str]) -> None:
    _, url = fake
    hit = retriever(url).search(SearchRequest(text=SQS_Q, k=1)).hits[0]
    assert (hit.chunk_id, hit.document_id) == ("sqs-visibility-p1", "sqs-visibility")
    assert hit.scores.confidence == "VERY_HIGH" and hit.scores.fused == 1.0
    assert hit.uri == "https://docs.example.com/sqs-visibility" and hit.source == f"kendra:{INDEX_ID}"
    assert hit.attributes == {"service": "sqs", "team": "messaging"}
    assert "30 seconds" in hit.text
    assert any(hit.excerpt[h.start : h.end].lower() == "visibility" for h in hit.highlights)


def test_query_is_the_fallback_when_retrieve_is_unavailable(fake: tuple[KendraFake, str]) -> None:
    f, url = fake
    f.retrieve_unsupported = True
    r = retriever(url)
    assert r.search(SearchRequest(text=SQS_Q, k=2)).hits[0].document_id == "sqs-visibility"
    r.search(SearchRequest(text=SQS_Q, k=2))
    assert len(f.calls("Retrieve")) == 1 and len(f.calls("Query")) == 2  # Retrieve is not tried again


def test_errors_are_the_projects_own(fake: tuple[KendraFake, str]) -> None:
    f, url = fake
    f.fail_next = ["ThrottlingException"]
    with pytest.raises(RemoteStoreError, match="throttling") as throttled:
        retriever(url).search(SearchRequest(text=SQS_Q))
    assert throttled.value.hint
    with pytest.raises(ConfigError, match="not found") as missing:
        retriever(url, index_id="ffffffff-0000-0000-0000-000000000000").search(SearchRequest(text=SQS_Q))
    assert "INDEX_ID" in (missing.value.hint or "")
    with pytest.raises(FilterError, match="exists"):
        retriever(url).search(SearchRequest(text=SQS_Q, filters=(make_condition("team", "exists", None),)))
    with pytest.raises(ValidationFailedError, match="mode"):
        retriever(url).search(SearchRequest(text=SQS_Q, mode="bm25"))
    with pytest.raises(RemoteStoreError):  # nothing listening
        retriever("http://127.0.0.1:9").search(SearchRequest(text=SQS_Q))


def test_a_bad_index_id_fails_at_start_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWSOMECHAT_RETRIEVER__KIND", "kendra")
    monkeypatch.setenv("AWSOMECHAT_RETRIEVER__INDEX_ID", "my-index")
    with pytest.raises(ConfigError, match="AWSOMECHAT_RETRIEVER__INDEX_ID"):
        load_settings()


_values = st.one_of(st.text("abcxyz", min_size=1, max_size=5), st.integers(-1000, 1000))
_conditions = st.builds(
    lambda key, op, v: make_condition(key, op, [v] if op == "in" else v),
    st.sampled_from(["team", "service", "uri", "title", "source"]),
    st.sampled_from(["eq", "ne", "in", "gt", "gte", "lt", "lte"]),
    _values,
)


@given(st.lists(_conditions, max_size=4))
def test_filters_survive_the_round_trip_through_kendra(conds: list[Condition]) -> None:
    assert conditions_of(attribute_filter(conds)) == tuple(conds)


def test_inexpressible_kendra_filters_are_refused_not_widened() -> None:
    eq = {"EqualsTo": {"Key": "team", "Value": {"StringValue": "x"}}}
    other = {"EqualsTo": {"Key": "service", "Value": {"StringValue": "y"}}}
    for flt in ({"OrAllFilters": [eq, other]}, {"NotFilter": {"AndAllFilters": [eq]}}, {"Bogus": eq}):
        with pytest.raises(FilterError):
            conditions_of(flt)


# ---------------------------------------------------------------- the whole service on Kendra


def kendra_env(url: str) -> dict[str, str]:
    return {
        "AWSOMECHAT_RETRIEVER__KIND": "kendra",
        "AWSOMECHAT_RETRIEVER__INDEX_ID": INDEX_ID,
        "AWS_ENDPOINT_URL_KENDRA": url,
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }


@pytest.fixture(scope="module")
def kendra_service(data_dir: Path, embedder: Embedder) -> Iterator[tuple[LiveServer, KendraFake, str]]:
    f = KendraFake(documents=fake_documents())
    with (
        kendra_server(f) as url,
        live_server(data_dir, embedder, ARTIFACTS / "logs", env=kendra_env(url)) as s,
    ):
        yield s, f, url


def test_cli_search_uses_kendra(kendra_service: tuple[LiveServer, KendraFake, str]) -> None:
    server, _, url = kendra_service
    out = subprocess.run(
        [sys.executable, "-m", "awsomechat", "search", "How many layers can a Lambda function use?"],
        env={**os.environ, **server.env, **kendra_env(url), "COLUMNS": "200"},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "AWS Lambda layers" in out.stdout and "docs.example.com/lambda-layers" in out.stdout


def test_api_answers_from_kendra_and_abstains_on_low_confidence(
    kendra_service: tuple[LiveServer, KendraFake, str],
) -> None:
    server, f, _ = kendra_service
    with server.client(server.admin_key) as c:
        q = c.post("/v1/query", json={"query": SQS_Q, "page_size": 2}).json()
        assert "results" in q, q
        assert q["results"][0]["document_id"] == "sqs-visibility"
        assert q["results"][0]["chunk_id"] == "sqs-visibility-p1"
        answer = c.post("/v1/chat", json={"message": SQS_Q, "stream": False}).json()
        assert not answer["abstained"], answer
        assert answer["sources"][0]["uri"].startswith("https://docs.example.com/")
        before = len(f.requests)
        off = c.post("/v1/chat", json={"message": "What temperature bakes banana bread?", "stream": False})
        assert off.json()["abstained"] is True
        assert len(f.requests) > before  # Kendra was asked; its confidence turned the question away
