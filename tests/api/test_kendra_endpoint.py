"""The Kendra-compatible endpoint (``POST /kendra``) through real boto3 ``kendra`` clients.

The server is a live ``awsomechat serve`` on the embedded PostgreSQL (``tests/api/conftest.py``):
public Lambda and VPN pages (``service=aws``) and a payroll page only the ``finance`` group reads.
"""

from __future__ import annotations

import datetime as dt
import os
import stat
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from awsomechat.api.kendra import sigv4
from awsomechat.api.kendra.confidence import score_confidence
from awsomechat.api.kendra.protocol import INDEX_ID, INDEX_ID_36
from awsomechat.auth.key_secrets import KeyBox
from awsomechat.settings import ApiSettings, DatabaseSettings, Settings
from awsomechat.types import RelevanceVerdict
from tests.live import LiveServer, free_port

LAMBDA_URI = "test://kb/lambda.md"
VPN_URI = "test://kb/vpn.md"
LAMBDA_Q = "What is the maximum deployment package size for AWS Lambda?"
PAYROLL_Q = "When are salaries paid at Octank?"
UNANSWERABLE_Q = "How do I change the screen resolution of Amazon WorkSpaces Web?"


def kendra(url: str, key: str, *, secret: str | None = None, access_key_id: str | None = None) -> Any:
    """A real boto3 Kendra client signing with ``key``: access key id ``awc_<prefix>`` (the
    key's first 12 characters), secret access key the whole key."""
    return boto3.session.Session().client(
        "kendra",
        endpoint_url=f"{url}/kendra",
        region_name="us-east-1",
        aws_access_key_id=access_key_id or key[:12],
        aws_secret_access_key=secret or key,
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}, read_timeout=120),
    )


def error_of(call: Any, **params: Any) -> ClientError:
    with pytest.raises(ClientError) as info:
        call(**params)
    return info.value


@pytest.fixture(scope="module")
def keys(server: LiveServer) -> dict[str, str]:
    return {
        "alice": server.create_user("k_alice", groups=("finance",)),
        "bob": server.create_user("k_bob", groups=("engineering",)),
    }


@pytest.fixture(scope="module")
def admin(server: LiveServer) -> Any:
    return kendra(server.url, server.admin_key)


# --------------------------------------------------------------- Retrieve, Query


def test_retrieve_returns_the_passages_with_their_attributes(server: LiveServer, admin: Any) -> None:
    out = admin.retrieve(IndexId=INDEX_ID_36, QueryText=LAMBDA_Q)
    assert str(uuid.UUID(out["QueryId"])) == out["QueryId"]
    top = out["ResultItems"][0]
    assert top["DocumentURI"] == LAMBDA_URI and top["DocumentTitle"] == "Lambda quotas"
    assert "50 MB zipped and 250 MB unzipped" in top["Content"]  # the whole passage
    native = httpx.post(
        f"{server.url}/v1/query",
        json={"query": LAMBDA_Q},
        headers={"Authorization": f"Bearer {server.admin_key}"},
    ).json()["results"][0]
    assert (top["Id"], top["DocumentId"]) == (native["chunk_id"], native["document_id"])  # our opaque ids
    attrs = {a["Key"]: a["Value"] for a in top["DocumentAttributes"]}
    assert attrs["service"] == {"StringValue": "aws"}
    assert attrs["_source_uri"] == {"StringValue": LAMBDA_URI}
    assert attrs["_document_title"] == {"StringValue": "Lambda quotas"}
    assert attrs["_data_source_id"] == {"StringValue": "test://kb"}
    assert top["ScoreAttributes"]["ScoreConfidence"] in ("MEDIUM", "HIGH", "VERY_HIGH")


def test_query_returns_documents_with_highlighted_excerpts(admin: Any) -> None:
    out = admin.query(IndexId=INDEX_ID_36, QueryText="Lambda deployment package size")
    top = out["ResultItems"][0]
    assert top["Type"] == "DOCUMENT" and top["DocumentURI"] == LAMBDA_URI
    excerpt = top["DocumentExcerpt"]
    marked = {excerpt["Text"][h["BeginOffset"] : h["EndOffset"]].lower() for h in excerpt["Highlights"]}
    assert {"deployment", "package", "size", "lambda"} <= marked, marked
    title = top["DocumentTitle"]
    assert title["Text"] == "Lambda quotas"
    assert [title["Text"][h["BeginOffset"] : h["EndOffset"]] for h in title["Highlights"]] == ["Lambda"]
    assert top["ScoreAttributes"]["ScoreConfidence"] in ("MEDIUM", "HIGH", "VERY_HIGH")
    # The admin reads all three documents (one passage each): Kendra's total, not the page's.
    assert out["TotalNumberOfResults"] == 3 and len(out["ResultItems"]) == 3
    assert str(uuid.UUID(out["QueryId"])) == out["QueryId"]


def test_requested_document_attributes_limit_the_attributes(admin: Any) -> None:
    out = admin.retrieve(IndexId=INDEX_ID_36, QueryText=LAMBDA_Q, RequestedDocumentAttributes=["service"])
    assert out["ResultItems"][0]["DocumentAttributes"] == [
        {"Key": "service", "Value": {"StringValue": "aws"}}
    ]


def test_an_unchanged_script_reaches_it_through_the_aws_environment(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # What the lab's notebooks do: boto3.client("kendra") with everything from the environment.
    for name, value in {
        "AWS_ENDPOINT_URL_KENDRA": f"{server.url}/kendra",
        "AWS_ACCESS_KEY_ID": server.admin_key[:12],
        "AWS_SECRET_ACCESS_KEY": server.admin_key,
        "AWS_DEFAULT_REGION": "eu-central-1",
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    out = boto3.client("kendra").query(IndexId=INDEX_ID_36, QueryText="VPN tunnel bandwidth")
    assert out["ResultItems"][0]["DocumentURI"] == VPN_URI


def test_the_short_index_id_works_without_boto3_s_length_check(server: LiveServer) -> None:
    # boto3 refuses an IndexId shorter than 36 characters before sending it; clients that turn
    # its parameter validation off (or are not boto3) may use the short name.
    client = boto3.session.Session().client(
        "kendra", endpoint_url=f"{server.url}/kendra", region_name="us-east-1",
        aws_access_key_id=server.admin_key[:12], aws_secret_access_key=server.admin_key,
        config=Config(parameter_validation=False, retries={"total_max_attempts": 1}),
    )  # fmt: skip
    assert client.retrieve(IndexId=INDEX_ID, QueryText=LAMBDA_Q)["ResultItems"]


def test_paging_follows_kendra_semantics(admin: Any) -> None:
    q = {"IndexId": INDEX_ID_36, "QueryText": "VPN tunnel bandwidth and Lambda limits"}
    whole = [r["Id"] for r in admin.retrieve(**q, PageSize=3)["ResultItems"]]
    assert len(whole) == 3
    pages = [
        [r["Id"] for r in admin.retrieve(**q, PageSize=1, PageNumber=n)["ResultItems"]] for n in (1, 2, 3)
    ]
    assert [p[0] for p in pages] == whole  # PageNumber is 1-based, pages do not overlap
    assert admin.retrieve(**q, PageSize=2, PageNumber=3)["ResultItems"] == []  # past the end
    query = admin.query(**q, PageSize=2, PageNumber=2)
    assert len(query["ResultItems"]) == 1 and query["TotalNumberOfResults"] == 3
    assert len(admin.retrieve(**q)["ResultItems"]) == 3  # default PageSize 10
    assert len(admin.retrieve(**q, PageSize=500)["ResultItems"]) == 3  # more than 100: 100
    assert admin.retrieve(**q, PageSize=50, PageNumber=3)["ResultItems"] == []  # past Kendra's 100
    for bad in ({"PageSize": 0}, {"PageNumber": 0}):
        err = error_of(admin.retrieve, **q, **bad)
        assert err.response["Error"]["Code"] == "ValidationException", bad


def _uris(client: Any, flt: dict[str, Any], text: str = "VPN Lambda payroll limits") -> set[str]:
    out = client.retrieve(IndexId=INDEX_ID_36, QueryText=text, AttributeFilter=flt)
    return {r["DocumentURI"] for r in out["ResultItems"]}


def test_attribute_filters_narrow(admin: Any) -> None:
    service = {"EqualsTo": {"Key": "service", "Value": {"StringValue": "aws"}}}
    lambda_uri = {"EqualsTo": {"Key": "_source_uri", "Value": {"StringValue": LAMBDA_URI}}}
    vpn_uri = {"EqualsTo": {"Key": "_source_uri", "Value": {"StringValue": VPN_URI}}}
    assert _uris(admin, {}) == {LAMBDA_URI, VPN_URI, "test://finance/payroll.md"}
    assert _uris(admin, service) == {LAMBDA_URI, VPN_URI}
    assert _uris(admin, lambda_uri) == {LAMBDA_URI}
    assert _uris(admin, {"AndAllFilters": [service, vpn_uri]}) == {VPN_URI}
    assert _uris(admin, {"OrAllFilters": [lambda_uri, vpn_uri]}) == {LAMBDA_URI, VPN_URI}
    assert _uris(admin, {"NotFilter": service}) == {"test://finance/payroll.md"}
    source = {"EqualsTo": {"Key": "_data_source_id", "Value": {"StringValue": "test://finance"}}}
    assert _uris(admin, source) == {"test://finance/payroll.md"}


def test_an_inexpressible_filter_is_a_validation_error_naming_it(admin: Any) -> None:
    service = {"EqualsTo": {"Key": "service", "Value": {"StringValue": "aws"}}}
    team = {"EqualsTo": {"Key": "team", "Value": {"StringValue": "finance"}}}
    err = error_of(
        admin.retrieve,
        IndexId=INDEX_ID_36,
        QueryText=LAMBDA_Q,
        AttributeFilter={"OrAllFilters": [service, team]},
    )
    assert err.response["Error"]["Code"] == "ValidationException"
    assert "OrAllFilters" in err.response["Error"]["Message"]
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_unsupported_members_are_refused_by_name(admin: Any) -> None:
    for extra in (
        {"Facets": [{"DocumentAttributeKey": "service"}]},
        {"SortingConfiguration": {"DocumentAttributeKey": "_created_at", "SortOrder": "DESC"}},
    ):
        err = error_of(admin.query, IndexId=INDEX_ID_36, QueryText=LAMBDA_Q, **extra)
        assert err.response["Error"]["Code"] == "ValidationException"
        assert next(iter(extra)) in err.response["Error"]["Message"]
    faq = admin.query(IndexId=INDEX_ID_36, QueryText=LAMBDA_Q, QueryResultTypeFilter="QUESTION_ANSWER")
    assert faq["ResultItems"] == [] and faq["TotalNumberOfResults"] == 0
    err = error_of(admin.describe_index, Id=INDEX_ID_36)
    assert err.response["Error"]["Code"] == "UnknownOperationException"


def test_a_wrong_index_is_not_found(admin: Any) -> None:
    err = error_of(admin.retrieve, IndexId=str(uuid.uuid4()), QueryText=LAMBDA_Q)
    assert err.response["Error"]["Code"] == "ResourceNotFoundException"
    assert INDEX_ID_36 in err.response["Error"]["Message"]


# ----------------------------------------------------------------- ScoreConfidence


def test_score_confidence_bands() -> None:
    yes = RelevanceVerdict(True, 0.7, 0.9, "")
    no = RelevanceVerdict(False, 0.7, 0.2, "passages cover 20% of the question")
    bands = [score_confidence(yes, d, min_dense=0.3) for d in (None, 0.1, 0.3, 0.44, 0.45, 0.59, 0.6, 0.95)]
    assert bands == ["LOW", "LOW", "MEDIUM", "MEDIUM", "HIGH", "HIGH", "VERY_HIGH", "VERY_HIGH"]
    assert {score_confidence(no, d, min_dense=0.3) for d in (0.1, 0.5, 0.99)} == {"LOW"}
    # The bands follow the calibrated threshold.
    assert score_confidence(yes, 0.5, min_dense=0.4) == "MEDIUM"
    # A backend's own band (this service on Kendra) passes through, unless the gate says no.
    assert score_confidence(yes, None, min_dense=0.3, backend="HIGH") == "HIGH"
    assert score_confidence(no, None, min_dense=0.3, backend="VERY_HIGH") == "LOW"


def test_an_unanswerable_question_is_low_confidence_throughout(admin: Any) -> None:
    for op in (admin.retrieve, admin.query):
        out = op(IndexId=INDEX_ID_36, QueryText=UNANSWERABLE_Q)
        assert out["ResultItems"], "the closest passages still come back"
        assert {r["ScoreAttributes"]["ScoreConfidence"] for r in out["ResultItems"]} == {"LOW"}
    answerable = admin.retrieve(IndexId=INDEX_ID_36, QueryText=LAMBDA_Q)["ResultItems"]
    assert answerable[0]["ScoreAttributes"]["ScoreConfidence"] != "LOW"


# ------------------------------------------------------------------ authentication


def test_a_wrong_secret_is_access_denied(server: LiveServer, keys: dict[str, str]) -> None:
    key = keys["alice"]
    forged = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    for client in (
        kendra(server.url, key, secret=forged),
        kendra(server.url, key, access_key_id="awc_zzzzzzzz"),  # unknown key id
        kendra(server.url, key, access_key_id="AKIAIOSFODNN7EXAMPLE"),  # not ours at all
    ):
        err = error_of(client.retrieve, IndexId=INDEX_ID_36, QueryText=PAYROLL_Q)
        assert err.response["Error"]["Code"] == "AccessDeniedException"
        assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert err.response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == "AccessDeniedException"
    assert (
        "signature does not match"
        in error_of(
            kendra(server.url, key, secret=forged).retrieve, IndexId=INDEX_ID_36, QueryText=PAYROLL_Q
        ).response["Error"]["Message"]
    )


def test_a_revoked_key_is_access_denied(server: LiveServer) -> None:
    key = server.create_user("k_carol")
    client = kendra(server.url, key)
    assert client.retrieve(IndexId=INDEX_ID_36, QueryText=LAMBDA_Q)["ResultItems"]
    server.keys.revoke_key(key[4:12])
    err = error_of(client.retrieve, IndexId=INDEX_ID_36, QueryText=LAMBDA_Q)
    assert err.response["Error"]["Code"] == "AccessDeniedException"


def test_unsigned_stale_and_tampered_requests_are_refused(server: LiveServer) -> None:
    key = server.admin_key
    body = b'{"IndexId": "%s", "QueryText": "VPN"}' % INDEX_ID_36.encode()
    target = {
        "X-Amz-Target": "AWSKendraFrontendService.Retrieve",
        "Content-Type": "application/x-amz-json-1.1",
    }

    def signed(when: dt.datetime | None = None, data: bytes = body) -> dict[str, str]:
        req = AWSRequest("POST", f"{server.url}/kendra", data=data, headers=dict(target))
        auth = SigV4Auth(Credentials(key[:12], key), "kendra", "us-east-1")
        if when is None:
            auth.add_auth(req)
        else:
            from unittest import mock

            with mock.patch("botocore.auth.get_current_datetime", return_value=when.replace(tzinfo=None)):
                auth.add_auth(req)
        return dict(req.headers.items())

    assert httpx.post(f"{server.url}/kendra", content=body, headers=signed()).status_code == 200
    cases = {
        "unsigned": (target, body),
        "stale": (signed(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=16)), body),
        "tampered body": (signed(), body.replace(b"VPN", b"pay")),
        "bearer": ({**target, "Authorization": f"Bearer {key}"}, body),
    }
    for name, (headers, data) in cases.items():
        r = httpx.post(f"{server.url}/kendra", content=data, headers=headers)
        assert r.status_code == 400, name
        assert r.headers["x-amzn-errortype"] == "AccessDeniedException", name
        assert r.json()["__type"] == "AccessDeniedException" and r.json()["message"], name
    stale = httpx.post(f"{server.url}/kendra", content=body, headers=cases["stale"][0])
    assert "15 minutes" in stale.json()["message"]
    # Within 15 minutes of the server's clock is accepted.
    recent = signed(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10))
    assert httpx.post(f"{server.url}/kendra", content=body, headers=recent).status_code == 200


def test_a_key_from_before_sigv4_signs_after_one_bearer_use(server: LiveServer) -> None:
    key = server.create_user("k_dave")
    with server.container.database.pool.connection() as conn:  # as keys created before migration 0010
        conn.execute("UPDATE api_keys SET secret_enc = NULL WHERE prefix = %s", (key[4:12],))
    client = kendra(server.url, key)
    err = error_of(client.retrieve, IndexId=INDEX_ID_36, QueryText=LAMBDA_Q)
    assert err.response["Error"]["Code"] == "AccessDeniedException"
    assert "Bearer" in err.response["Error"]["Message"]
    assert httpx.get(f"{server.url}/v1/me", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    assert client.retrieve(IndexId=INDEX_ID_36, QueryText=LAMBDA_Q)["ResultItems"]


def test_the_rate_limit_is_kendra_throttling(server: LiveServer) -> None:
    key = server.create_user("k_erin")
    client = kendra(server.url, key)
    # Requests count once authenticated, whatever follows: a wrong index is the cheapest.
    codes = []
    for _ in range(121):
        codes.append(error_of(client.retrieve, IndexId=str(uuid.uuid4()), QueryText="x").response)
        if codes[-1]["Error"]["Code"] != "ResourceNotFoundException":
            break
    last = codes[-1]
    assert last["Error"]["Code"] == "ThrottlingException", last["Error"]
    assert int(last["ResponseMetadata"]["HTTPHeaders"]["retry-after"]) >= 1
    assert len(codes) == 121  # the default 120 per minute were admitted first


# --------------------------------------------------------------------------- access


def test_group_documents_are_visible_only_with_the_group(server: LiveServer, keys: dict[str, str]) -> None:
    alice, bob = kendra(server.url, keys["alice"]), kendra(server.url, keys["bob"])
    payroll = "test://finance/payroll.md"
    for op in ("retrieve", "query"):
        seen = getattr(alice, op)(IndexId=INDEX_ID_36, QueryText=PAYROLL_Q)
        assert seen["ResultItems"][0]["DocumentURI"] == payroll
        hidden = getattr(bob, op)(IndexId=INDEX_ID_36, QueryText=PAYROLL_Q)
        assert payroll not in {r.get("DocumentURI") for r in hidden["ResultItems"]}
        assert "salar" not in str(hidden).lower() and "octank" not in str(hidden).lower()
    assert bob.query(IndexId=INDEX_ID_36, QueryText=PAYROLL_Q)["TotalNumberOfResults"] == 2


def test_user_context_cannot_widen_access(server: LiveServer, keys: dict[str, str]) -> None:
    bob = kendra(server.url, keys["bob"])
    widen = {"Groups": ["finance"], "UserId": "k_alice"}
    team = {"EqualsTo": {"Key": "team", "Value": {"StringValue": "finance"}}}
    for op in ("retrieve", "query"):
        out = getattr(bob, op)(IndexId=INDEX_ID_36, QueryText=PAYROLL_Q, UserContext=widen)
        assert "test://finance/payroll.md" not in {r.get("DocumentURI") for r in out["ResultItems"]}
        assert "octank" not in str(out).lower()
        filtered = getattr(bob, op)(
            IndexId=INDEX_ID_36, QueryText=PAYROLL_Q, UserContext=widen, AttributeFilter=team
        )
        assert filtered["ResultItems"] == []


# ----------------------------------------------------------------------- LangChain


def test_langchain_amazon_kendra_retriever(server: LiveServer, keys: dict[str, str]) -> None:
    retrievers = pytest.importorskip("langchain_aws.retrievers")

    def make(key: str, min_score_confidence: float | None = None) -> Any:
        return retrievers.AmazonKendraRetriever(
            index_id=INDEX_ID_36, client=kendra(server.url, key), top_k=3,
            min_score_confidence=min_score_confidence,
        )  # fmt: skip

    docs = make(keys["alice"]).invoke(PAYROLL_Q)
    assert docs[0].metadata["source"] == "test://finance/payroll.md"
    assert "25th" in docs[0].page_content and docs[0].metadata["title"] == "Payroll calendar"
    assert "test://finance/payroll.md" not in {
        d.metadata["source"] for d in make(keys["bob"]).invoke(PAYROLL_Q)
    }
    # min_score_confidence drops what our relevance gate would not answer from.
    gated = make(keys["alice"], min_score_confidence=0.5)
    assert gated.invoke(UNANSWERABLE_Q) == []
    assert gated.invoke(LAMBDA_Q)[0].metadata["source"] == LAMBDA_URI
    # Its Query fallback (used when Retrieve finds nothing) reads our Query results too.
    from langchain_aws.retrievers.kendra import QueryResult

    raw = kendra(server.url, keys["alice"]).query(IndexId=INDEX_ID_36, QueryText=LAMBDA_Q)
    doc = QueryResult.model_validate(raw).ResultItems[0].to_doc()
    assert doc.metadata["source"] == LAMBDA_URI and "50 MB" in doc.page_content
    assert doc.metadata["document_attributes"]["service"] == "aws"


# ------------------------------------------------------- local mode, database down


@pytest.fixture(scope="module")
def local_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server in local mode whose database cannot be reached (in this process, on a thread)."""
    import uvicorn

    from awsomechat.api.app import create_app

    settings = Settings(
        data_dir=tmp_path_factory.mktemp("kendra-local"),
        database=DatabaseSettings(url="postgresql://127.0.0.1:1/none", connect_timeout_s=1),  # type: ignore[arg-type]
        api=ApiSettings(local_mode=True, ui=False),
    )
    port = free_port()
    srv = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


def test_local_mode_does_not_open_kendra_without_a_signature(local_app: str) -> None:
    assert httpx.get(f"{local_app}/v1/me").json()["user_id"] == "local"  # local mode is on
    r = httpx.post(
        f"{local_app}/kendra",
        json={"IndexId": INDEX_ID_36, "QueryText": "VPN"},
        headers={"X-Amz-Target": "AWSKendraFrontendService.Retrieve"},
    )
    assert r.status_code == 400 and r.headers["x-amzn-errortype"] == "AccessDeniedException"
    assert "not signed" in r.json()["message"]


def test_a_database_outage_is_an_internal_server_exception(local_app: str) -> None:
    key = "awc_abcdefgh_" + "x" * 32
    err = error_of(kendra(local_app, key).retrieve, IndexId=INDEX_ID_36, QueryText="VPN")
    assert err.response["Error"]["Code"] == "InternalServerException"
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert int(err.response["ResponseMetadata"]["HTTPHeaders"]["retry-after"]) >= 1


# ----------------------------------------------------------------- SigV4, sealing


def _botocore_signed(url: str, body: bytes, headers: dict[str, str], secret: str) -> AWSRequest:
    req = AWSRequest("POST", url, data=body, headers=headers)
    SigV4Auth(Credentials("awc_abcdefgh", secret), "kendra", "eu-west-1").add_auth(req)
    return req


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/kendra",
        "https://search.example.com/kendra/",
        "http://h:81/a/./b/../kendra//x?b=2&a=1&a=0&c=%20",
    ],
)
def test_the_canonical_request_is_botocore_s(url: str) -> None:
    from urllib.parse import urlsplit

    body = '{"QueryText": "päckage  size"}'.encode()
    headers = {"X-Amz-Target": "AWSKendraFrontendService.Query", "X-Custom": "  a   b  ", "Content-Type": "x"}
    req = _botocore_signed(url, body, headers, "s3cret")
    parts = urlsplit(url)
    wire = [*req.headers.items(), ("Host", parts.netloc)]
    parsed = sigv4.parse("POST", parts.path, parts.query, wire, body, service="kendra")
    expected = SigV4Auth(Credentials("awc_abcdefgh", "s3cret"), "kendra", "eu-west-1")
    del req.headers["Authorization"]  # what botocore signed: the request before it was added
    assert parsed.canonical_request == expected.canonical_request(req)
    assert parsed.access_key_id == "awc_abcdefgh" and parsed.region == "eu-west-1"
    assert sigv4.signature_matches(parsed, "s3cret")
    assert not sigv4.signature_matches(parsed, "s3cres")
    tampered = sigv4.parse("POST", parts.path, parts.query, wire, body + b" ", service="kendra")
    assert not sigv4.signature_matches(tampered, "s3cret")


def test_a_signature_must_cover_the_operation_and_the_service() -> None:
    body = b"{}"
    req = _botocore_signed("http://h/kendra", body, {"X-Amz-Target": "AWSKendraFrontendService.Query"}, "k")
    wire = [*req.headers.items(), ("Host", "h")]
    # X-Amz-Target added after signing (a replay as another operation) is refused.
    unsigned = _botocore_signed("http://h/kendra", body, {}, "k")
    with pytest.raises(sigv4.SignatureError, match="x-amz-target"):
        sigv4.parse(
            "POST", "/kendra", "", [*unsigned.headers.items(), ("Host", "h"), ("X-Amz-Target", "x")], body,
            service="kendra",
        )  # fmt: skip
    with pytest.raises(sigv4.SignatureError, match="service"):
        sigv4.parse("POST", "/kendra", "", wire, body, service="s3")
    unsigned_payload = [*wire, ("X-Amz-Content-SHA256", "UNSIGNED-PAYLOAD")]
    with pytest.raises(sigv4.SignatureError):
        sigv4.parse("POST", "/kendra", "", unsigned_payload, body, service="kendra")


def test_sealed_keys_open_only_for_their_row_and_kek(tmp_path: Path) -> None:
    box = KeyBox(kek_file=tmp_path / "secrets" / "kek")
    row, other = uuid.uuid4(), uuid.uuid4()
    blob = box.seal("awc_abcdefgh_secret", row)
    assert box.open(blob, row) == "awc_abcdefgh_secret" and box.is_current(blob)
    assert box.open(blob, other) is None  # moved to another row
    assert box.open(blob[:-1] + bytes([blob[-1] ^ 1]), row) is None  # altered
    assert KeyBox(os.urandom(32)).open(blob, row) is None  # another KEK
    assert not KeyBox(os.urandom(32)).is_current(blob)
    # The generated KEK file is private and shared by every box (worker) using it.
    assert stat.S_IMODE((tmp_path / "secrets" / "kek").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "secrets").stat().st_mode) == 0o700
    assert KeyBox(kek_file=tmp_path / "secrets" / "kek").open(blob, row) == "awc_abcdefgh_secret"
    assert b"secret" not in blob


def test_workers_starting_together_agree_on_one_generated_kek(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "kek"
    boxes = [KeyBox(kek_file=path) for _ in range(8)]
    blobs: dict[int, bytes] = {}
    row = uuid.uuid4()

    def seal(i: int) -> None:
        blobs[i] = boxes[i].seal(f"key-{i}", row)

    threads = [threading.Thread(target=seal, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(boxes[0].open(blobs[i], row) == f"key-{i}" for i in range(8))
    assert [p.name for p in path.parent.iterdir()] == ["kek"]  # no temporary file left behind


def test_a_configured_kek_must_be_32_bytes_of_base64() -> None:
    import base64

    from pydantic import ValidationError

    ApiSettings(key_encryption_key=base64.b64encode(os.urandom(32)).decode())  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="base64 of 32"):
        ApiSettings(key_encryption_key="c2hvcnQ=")  # type: ignore[arg-type]
