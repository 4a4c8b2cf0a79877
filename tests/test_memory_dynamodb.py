"""DynamoDB conversation memory: the shared contract and the table's own behaviour, against moto in
server mode on a loopback port through a real boto3 client; then a real `awsomechat serve` on it."""

from __future__ import annotations

import datetime as dt
import socket
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from awsomechat.chat.memory_dynamodb import TTL_ATTRIBUTE, UPDATED_INDEX, DynamoDBConversationStore
from awsomechat.container import Container
from awsomechat.errors import MissingExtraError, NotFoundError, StoreError
from awsomechat.seams import ConversationStore, Embedder
from awsomechat.settings import MemorySettings, Settings, load_settings
from awsomechat.testing.conversation_store import ConversationStoreContract, make_turn
from tests.live import live_server
from tests.moto_aws import CREDENTIALS, aws_client, failing_endpoint, moto_server

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture(scope="module")
def ddb(endpoint: str) -> Any:
    return aws_client("dynamodb", endpoint)


def _table() -> str:
    return f"awsomechat-test-{uuid.uuid4().hex[:10]}"


def _store(ddb: Any, table: str | None = None, **kw: Any) -> DynamoDBConversationStore:
    return DynamoDBConversationStore(ddb, table=table or _table(), **kw)


def _count_calls(client: Any) -> list[str]:
    """Names of the DynamoDB operations the client sends from now on (botocore's event hook)."""
    calls: list[str] = []

    def record(model: Any, **_: Any) -> None:
        calls.append(model.name)

    client.meta.events.register("before-call.dynamodb", record)
    return calls


class TestDynamoDBConversationStore(ConversationStoreContract):
    @pytest.fixture
    def memory(self, ddb: Any) -> Iterator[ConversationStore]:
        yield _store(ddb)  # a fresh table per test: created by the store on first use


def test_missing_table_is_created_with_its_index_and_ttl(ddb: Any) -> None:
    table = _table()
    store = _store(ddb, table, ttl_days=7)
    s = store.create_session("ivy", title="hello")
    desc = ddb.describe_table(TableName=table)["Table"]
    assert desc["TableStatus"] == "ACTIVE" and desc["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert [i["IndexName"] for i in desc["LocalSecondaryIndexes"]] == [UPDATED_INDEX]
    ttl = ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", TTL_ATTRIBUTE)
    item = ddb.get_item(TableName=table, Key={"PK": {"S": "USER#ivy"}, "SK": {"S": f"SESSION#{s.id}"}})[
        "Item"
    ]
    expires = int(item[TTL_ATTRIBUTE]["N"])
    assert abs(expires - (time.time() + 7 * 86_400)) < 120
    # A second store (another worker) finds the table as it is and uses it.
    assert _store(ddb, table).get_session("ivy", s.id).title == "hello"


def test_without_ttl_items_carry_no_expiry(ddb: Any) -> None:
    table = _table()
    store = _store(ddb, table)
    s = store.create_session("jo")
    t = store.append_turn("jo", s.id, make_turn("q"))
    items = ddb.scan(TableName=table)["Items"]
    assert len(items) == 3  # session, turn, message pointer
    assert all(TTL_ATTRIBUTE not in i for i in items)
    assert {i["SK"]["S"] for i in items} == {f"SESSION#{s.id}", "TURN#0000000001", "MESSAGE"}
    assert store.message("jo", t.id).question == "q"


def test_expired_items_are_gone_before_dynamodb_deletes_them(ddb: Any) -> None:
    """DynamoDB deletes expired items up to days late: reads must not show them meanwhile."""
    table = _table()
    ten_days_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=10)
    old = _store(ddb, table, ttl_days=3, clock=lambda: ten_days_ago)
    s = old.create_session("kim")
    t = old.append_turn("kim", s.id, make_turn("an old question"))
    fresh = _store(ddb, table, ttl_days=3)
    recent = fresh.create_session("kim")
    assert len(ddb.scan(TableName=table)["Items"]) == 4  # still stored: moto, like AWS, is lazy
    with pytest.raises(NotFoundError):
        fresh.get_session("kim", s.id)
    with pytest.raises(NotFoundError):
        fresh.message("kim", t.id)
    assert [x.id for x in fresh.list_sessions("kim")] == [recent.id]


def test_each_listing_is_one_query(ddb: Any) -> None:
    """Sessions newest first and a session's turns in order: one Query each, whatever the size."""
    store = _store(ddb)
    sessions = [store.create_session("lee", title=f"s{i}") for i in range(30)]
    for i in range(12):
        store.append_turn("lee", sessions[0].id, make_turn(f"q{i}"))
    calls = _count_calls(ddb)
    listed = store.list_sessions("lee", limit=20)
    assert calls == ["Query"] and listed[0].id == sessions[0].id and len(listed) == 20
    calls.clear()
    turns = store.turns("lee", sessions[0].id)
    assert calls == ["GetItem", "Query"] and [t.seq for t in turns] == list(range(1, 13))
    calls.clear()
    last = store.turns("lee", sessions[0].id, last=3)
    assert calls == ["GetItem", "Query"] and [t.question for t in last] == ["q9", "q10", "q11"]
    calls.clear()
    store.message("lee", turns[4].id)
    assert calls == ["GetItem", "BatchGetItem"]


def test_a_session_with_many_turns_is_deleted_completely(ddb: Any) -> None:
    table = _table()
    store = _store(ddb, table)
    s = store.create_session("max")
    keep = store.create_session("max")
    for i in range(30):  # more than one BatchWriteItem (25 requests) of turns and pointers
        store.append_turn("max", s.id, make_turn(f"q{i}"))
    store.append_turn("max", keep.id, make_turn("kept"))
    store.delete_session("max", s.id)
    left = ddb.scan(TableName=table)["Items"]
    assert len(left) == 3 and [t.question for t in store.turns("max", keep.id)] == ["kept"]


def test_a_table_of_another_layout_is_refused(ddb: Any) -> None:
    table = _table()
    ddb.create_table(
        TableName=table, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    )  # fmt: skip
    with pytest.raises(StoreError) as info:
        _store(ddb, table).list_sessions("ned")
    assert table in info.value.message and "AWSOMECHAT_MEMORY__TABLE" in str(info.value.hint)


def test_unreachable_endpoint_is_a_store_error() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = _store(aws_client("dynamodb", f"http://127.0.0.1:{port}", attempts=1, timeout_s=2))
    t0 = time.monotonic()
    with pytest.raises(StoreError) as info:
        store.list_sessions("olga")
    assert "cannot reach" in info.value.message and "AWS_ENDPOINT_URL" in str(info.value.hint)
    assert time.monotonic() - t0 < 10


def test_throttling_is_retried_then_a_store_error() -> None:
    with failing_endpoint() as (url, handler):
        store = _store(aws_client("dynamodb", url, attempts=3))
        with pytest.raises(StoreError) as info:
            store.create_session("pat")
    assert "throttling" in info.value.message and "ThrottlingException" in info.value.message
    assert handler.calls == 3  # botocore retried before giving up


def test_settings_from_the_environment_switch_the_memory(
    endpoint: str, ddb: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    table = _table()
    for key, value in {
        **CREDENTIALS,
        "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
        "AWSOMECHAT_MEMORY__KIND": "dynamodb",
        "AWSOMECHAT_MEMORY__TABLE": table,
        "AWSOMECHAT_MEMORY__TTL_DAYS": "30",
    }.items():
        monkeypatch.setenv(key, value)
    settings = load_settings(data_dir=tmp_path)
    assert settings.memory == MemorySettings(kind="dynamodb", table=table, ttl_days=30)
    with Container(settings) as c:
        s = c.conversations.create_session("quinn", title="from the container")
        assert "database" not in c.__dict__  # PostgreSQL was never needed for memory
    item = ddb.get_item(TableName=table, Key={"PK": {"S": "USER#quinn"}, "SK": {"S": f"SESSION#{s.id}"}})
    assert item["Item"]["title"]["S"] == "from the container"


def test_a_bad_table_name_fails_at_start_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWSOMECHAT_MEMORY__TABLE", "no spaces allowed")
    with pytest.raises(Exception) as info:
        load_settings()
    assert "AWSOMECHAT_MEMORY__TABLE" in str(info.value)


def test_missing_boto3_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)  # import boto3 now raises ImportError
    c = Container(Settings(data_dir=tmp_path, memory=MemorySettings(kind="dynamodb")))
    with pytest.raises(MissingExtraError) as info:
        _ = c.conversations
    assert "awsomechat[aws]" in str(info.value)


# ------------------------------------------------------------------ a real server on DynamoDB ---


def test_the_service_keeps_conversations_in_dynamodb(
    data_dir: Path, embedder: Embedder, ddb: Any, endpoint: str
) -> None:
    """`awsomechat serve` with memory.kind=dynamodb: a chat turn, the sessions routes and feedback
    all go to the table; when DynamoDB goes away the sessions routes answer 503, not 500."""
    table = _table()
    env = {
        **CREDENTIALS,
        "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
        "AWSOMECHAT_MEMORY__KIND": "dynamodb",
        "AWSOMECHAT_MEMORY__TABLE": table,
    }
    with live_server(data_dir, embedder, ARTIFACTS / "logs", env=env) as server:
        key = server.create_user("rita")
        with server.client(key) as http:
            # Nothing is ingested, so the answer abstains without a model call; the turn is stored.
            r = http.post("/v1/chat", json={"message": "How do I rotate IAM keys?", "stream": False})
            assert r.status_code == 200, r.text
            body = r.json()
            sid, mid = body["session_id"], body["message_id"]
            sessions = http.get("/v1/sessions").json()["sessions"]
            assert [s["id"] for s in sessions] == [sid]
            assert sessions[0]["title"] == "How do I rotate IAM keys?"
            messages = http.get(f"/v1/sessions/{sid}/messages").json()["messages"]
            assert [m["question"] for m in messages] == ["How do I rotate IAM keys?"]
            fb = http.post(f"/v1/messages/{mid}/feedback", json={"rating": -1, "comment": "no docs"})
            assert fb.status_code == 200, fb.text
        other = server.create_user("sam")
        with server.client(other) as http:
            assert http.get(f"/v1/sessions/{sid}").status_code == 404
            assert http.post(f"/v1/messages/{mid}/feedback", json={"rating": 1}).status_code == 404
        turn = ddb.get_item(
            TableName=table, Key={"PK": {"S": f"SESSION#{sid}"}, "SK": {"S": "TURN#0000000001"}}
        )
        assert (turn["Item"]["rating"]["N"], turn["Item"]["comment"]["S"]) == ("-1", "no docs")
        with server.client(key) as http:
            ddb.delete_table(TableName=table)  # gone under the running service: it recreates it
            r = http.get("/v1/sessions")
            assert r.status_code == 200 and r.json()["sessions"] == []
        unreachable = {**env, "AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:9"}
    with live_server(data_dir, embedder, ARTIFACTS / "logs", env=unreachable) as server:
        key = server.create_user("tom")
        with server.client(key) as http:
            r = http.get("/v1/sessions")
            assert r.status_code == 503 and r.headers.get("Retry-After")
            assert "DynamoDB" in r.json()["detail"]
            # The conversation store is down, not PostgreSQL: search goes on at once.
            assert http.post("/v1/query", json={"query": "anything"}).status_code == 200
        assert "Traceback" not in server.log()
