"""The Python client (awsomechat.client) against a live `awsomechat serve` on loopback: every
method, typed results, errors carrying the problem document, streaming events, retries on 503
and 429 honouring Retry-After, timeouts, and an import that pulls in nothing of the server."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from awsomechat.client import (
    NO_RETRY,
    Answer,
    AsyncAwsomeChatClient,
    AuthenticationError,
    AwsomeChatClient,
    FinalEvent,
    InvalidRequestError,
    NotFoundError,
    Passage,
    PermissionDeniedError,
    RateLimitedError,
    Retry,
    ServiceUnavailableError,
    SourcesEvent,
    TokenEvent,
    TransportError,
)
from awsomechat.seams import Embedder
from tests.api.conftest import ARTIFACTS, seed
from tests.live import LiveServer, free_port, live_server

LAMBDA_Q = "What is the maximum deployment package size for AWS Lambda?"
PAYROLL_Q = "On which day of the month are salaries paid at Octank?"
GLACIER = b"# Glacier retrieval\n\nExpedited retrievals from the Zorblax vault finish within 5 minutes.\n"


@pytest.fixture(scope="module")
def server(data_dir: Path, embedder: Embedder) -> Iterator[LiveServer]:
    with live_server(data_dir, embedder, ARTIFACTS / "logs", setup=seed) as s:
        yield s


@pytest.fixture(scope="module")
def admin(server: LiveServer) -> Iterator[AwsomeChatClient]:
    with AwsomeChatClient(server.url, server.admin_key) as c:
        yield c


@pytest.mark.parametrize("module", ["awsomechat.client", "awsomechat.integrations.langchain"])
def test_importing_the_client_imports_nothing_of_the_server(module: str) -> None:
    code = f"import sys, json; import {module}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    modules = set(json.loads(out))
    heavy = {
        "torch",
        "llama_cpp",
        "fastapi",
        "starlette",
        "uvicorn",
        "psycopg",
        "sentence_transformers",
        "mcp",
    }
    assert not heavy & modules, heavy & modules
    ours = {m for m in modules if m.startswith("awsomechat.")}
    assert module in ours and all(
        m.startswith(("awsomechat.client", "awsomechat.integrations")) for m in ours
    ), ours
    assert "httpx" in modules  # the control: the check sees what was imported


def test_query_returns_typed_passages_within_the_keys_access(
    server: LiveServer, admin: AwsomeChatClient
) -> None:
    passages = admin.query("lambda deployment package size", k=2)
    assert len(passages) == 2 and all(isinstance(p, Passage) for p in passages)
    top = passages[0]
    assert top.title == "Lambda quotas" and top.uri == "test://kb/lambda.md" and top.rank == 1
    assert "50 MB" in top.text and top.excerpt and top.attributes == {"service": "aws"}
    assert isinstance(top.chunk_id, str) and top.chunk_id and isinstance(top.document_id, str)
    assert top.scores.fused > 0 and top.scores.bm25_rank == 1
    assert "**" in top.highlighted_excerpt
    assert passages.next_offset == 2 and passages.timings_ms

    # The finance document is invisible to a key without the group, whatever the filter says.
    plain = AwsomeChatClient(server.url, server.create_user("plain-q"))
    finance = AwsomeChatClient(server.url, server.create_user("fin-q", groups=("finance",)))
    with plain, finance:
        assert "Payroll calendar" in [p.title for p in finance.query(PAYROLL_Q, k=5)]
        assert "Payroll calendar" not in [p.title for p in plain.query(PAYROLL_Q, k=5)]
        assert list(plain.query(PAYROLL_Q, filters={"attributes.team": "finance"})) == []
        narrowed = finance.query(PAYROLL_Q, filters=[{"field": "attributes.team", "value": "finance"}])
        assert {p.title for p in narrowed} == {"Payroll calendar"}
        assert {p.uri for p in finance.query("VPN", filters={"uri": ["test://kb/vpn.md"]})} == {
            "test://kb/vpn.md"
        }


def test_chat_stream_yields_typed_events_then_the_stored_answer(admin: AwsomeChatClient) -> None:
    events = list(admin.chat_stream(LAMBDA_Q))
    types = [e.type for e in events]
    assert types[0] == "question" and types[1] == "sources" and types[-1] == "final", types
    assert types.count("token") >= 3
    sources = events[1]
    assert isinstance(sources, SourcesEvent) and not sources.abstained
    assert sources.sources[0].title == "Lambda quotas" and isinstance(sources.sources[0].chunk_id, str)
    final = events[-1]
    assert isinstance(final, FinalEvent)
    answer = final.answer
    assert answer.text and answer.session_id and answer.message_id and answer.question == LAMBDA_Q
    assert answer.prompt_tokens > 0 and answer.completion_tokens > 0
    streamed = "".join(e.text for e in events if isinstance(e, TokenEvent))
    assert streamed.strip()[:10] == answer.text.strip()[:10]


def test_stopping_a_stream_early_closes_it(server: LiveServer) -> None:
    key = server.create_user("quitter")
    with AwsomeChatClient(server.url, key) as c:
        for event in c.chat_stream(LAMBDA_Q):
            if event.type == "token":
                break
        deadline = time.monotonic() + 10
        while c.list_sessions() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert c.list_sessions() == [] or all(s.message_count == 0 for s in c.list_sessions())


def test_conversation_sessions_and_feedback(server: LiveServer) -> None:
    key = server.create_user("talker")
    with AwsomeChatClient(server.url, key) as c:
        first = c.chat(LAMBDA_Q)
        assert isinstance(first, Answer) and not first.abstained and first.session_id
        assert first.sources[0].uri == "test://kb/lambda.md"
        second = c.chat("And what about container images?", session_id=first.session_id)
        assert second.session_id == first.session_id
        sessions = c.list_sessions()
        assert [s.id for s in sessions] == [first.session_id] and sessions[0].message_count == 2
        turns = c.messages(first.session_id)
        assert [t.seq for t in turns] == [1, 2] and turns[0].answer == first.text
        assert c.rename_session(first.session_id, "Lambda sizes").title == "Lambda sizes"
        assert c.get_session(first.session_id).title == "Lambda sizes"
        fb = c.feedback(second.message_id or "", -1, "missed the 10 GB")
        assert fb.rating == -1 and fb.message_id == second.message_id
        assert c.messages(first.session_id)[1].feedback_comment == "missed the 10 GB"
        c.delete_session(first.session_id)
        with pytest.raises(NotFoundError) as err:
            c.get_session(first.session_id)
    problem = err.value.problem
    assert (
        problem["status"] == 404 and problem["request_id"] and err.value.request_id == problem["request_id"]
    )


def test_reply_drafts_an_email_and_abstains_outside_the_documents(admin: AwsomeChatClient) -> None:
    email = "Hello,\n\nhow large can an AWS Lambda deployment package be, zipped?\n\nThanks, Maria"
    draft = admin.reply(email)
    assert not draft.abstained and draft.sources[0].title == "Lambda quotas"
    off_topic = admin.chat("Who won the 1998 football world cup final?")
    assert off_topic.abstained and off_topic.citations == () and off_topic.model == ""


def test_documents_upload_waits_for_the_job_then_list_get_delete(server: LiveServer) -> None:
    with AwsomeChatClient(server.url, server.admin_key) as c:
        job = c.upload(("glacier.md", GLACIER), attributes={"team": "storage"}, groups=["ops"])
        assert job.finished and job.status == "succeeded", job
        assert [f.status for f in job.files] == ["added"] and len(job.document_ids) == 1
        doc_id = job.document_ids[0]
        assert isinstance(doc_id, str)
        listed = {d.id: d for d in c.list_documents(q="glacier")}
        assert doc_id in listed and listed[doc_id].groups == ("ops",)
        doc = c.get_document(doc_id, passages=True)
        assert doc.title == "Glacier retrieval" and doc.attributes == {"team": "storage"}
        assert doc.passage_list and "Zorblax" in doc.text and doc.passages == len(doc.passage_list)
        assert doc_id in {d.id for d in c.iter_documents()}
        with AwsomeChatClient(server.url, server.create_user("outsider")) as other:
            with pytest.raises(NotFoundError):  # restricted to ops: not found for others
                other.get_document(doc_id)
            with pytest.raises(PermissionDeniedError) as denied:
                other.upload(("x.md", b"# X\n\nsome text here\n"))
            assert denied.value.status == 403
        c.delete_document(doc_id)
        with pytest.raises(NotFoundError):
            c.get_document(doc_id)


def test_a_file_that_fails_is_reported_in_the_job(admin: AwsomeChatClient, tmp_path: Path) -> None:
    path = tmp_path / "notes.md"
    path.write_text("# Notes\n\nThe Quokka team owns the runbook.\n")
    job = admin.upload([path, ("bad.pdf", b"%PDF-1.4 not really a pdf")])
    assert job.status == "partial", job
    assert [f.name for f in job.failed_files] == ["bad.pdf"] and job.failed_files[0].detail


def test_errors_carry_the_problem_document(server: LiveServer) -> None:
    with (
        AwsomeChatClient(server.url, "awc_nothere_" + "x" * 32) as bad,
        pytest.raises(AuthenticationError) as e,
    ):
        bad.query("lambda")
    assert e.value.status == 401 and e.value.problem["title"] == "Unauthorized"
    with AwsomeChatClient(server.url) as anonymous, pytest.raises(AuthenticationError):
        anonymous.me()
    with AwsomeChatClient(server.url, server.admin_key) as c:
        with pytest.raises(InvalidRequestError) as invalid:
            c.query("lambda", filters=[{"field": "attributes.x", "op": "near", "value": 1}])
        assert invalid.value.status == 422 and invalid.value.errors
        assert any("filters" in f["field"] for f in invalid.value.errors)
        me = c.me()
        assert me.user_id == "admin" and me.admin
        assert c.info()["name"] == "AWSomeChat"


def test_timeouts_and_unreachable_servers_raise_transport_errors(server: LiveServer) -> None:
    slow_reader = AwsomeChatClient(server.url, server.admin_key, timeout=httpx.Timeout(5, read=0.01))
    with slow_reader, pytest.raises(TransportError):
        slow_reader.chat(LAMBDA_Q)
    started = time.monotonic()
    retry = Retry(attempts=3, backoff_s=0.2)
    nowhere = AwsomeChatClient(f"http://127.0.0.1:{free_port()}", "k", retry=retry)
    with nowhere, pytest.raises(TransportError):
        nowhere.query("lambda")
    assert time.monotonic() - started >= 0.2  # it waited between the three attempts


def test_async_client(server: LiveServer) -> None:
    key = server.create_user("async-user", groups=("finance",))

    async def run() -> None:
        async with AsyncAwsomeChatClient(server.url, key) as c:
            passages = await c.query(PAYROLL_Q, k=3)
            assert passages[0].title == "Payroll calendar" and isinstance(passages[0].chunk_id, str)
            events = [e async for e in c.chat_stream(LAMBDA_Q)]
            assert [events[0].type, events[1].type, events[-1].type] == ["question", "sources", "final"]
            final = events[-1]
            assert isinstance(final, FinalEvent)
            follow = await c.chat("and container images?", session_id=final.answer.session_id)
            assert follow.session_id == final.answer.session_id
            assert len(await c.messages(follow.session_id or "")) == 2
            assert [s.id for s in await c.list_sessions()] == [follow.session_id]
            docs = await c.list_documents()
            assert "Payroll calendar" in {d.title for d in docs}
            one = await c.get_document(docs[0].id)
            assert one.id == docs[0].id
            assert (await c.me()).groups == ("finance",)
            with pytest.raises(PermissionDeniedError):
                await c.delete_document(one.id)
            with pytest.raises(NotFoundError):
                await c.get_session("00000000-0000-0000-0000-000000000000")

    asyncio.run(run())


# ------------------------------------------------------------------- retries

LIMITED = {
    "AWSOMECHAT_API__RATE_LIMIT_PER_MINUTE": "60",
    "AWSOMECHAT_API__GENERATION_QUEUE_DEPTH": "0",
    "AWSOMECHAT_API__RETRY_AFTER_S": "1",
    "AWSOMECHAT_LLM__MAX_ANSWER_TOKENS": "24",
}


@pytest.fixture(scope="module")
def limited(data_dir: Path, embedder: Embedder) -> Iterator[LiveServer]:
    with live_server(data_dir, embedder, ARTIFACTS / "logs", env=LIMITED, setup=seed) as s:
        yield s


def _queue_full_count(server: LiveServer) -> float:
    for line in httpx.get(f"{server.url}/metrics").text.splitlines():
        if line.startswith('awsomechat_rejected_total{reason="queue_full"}'):
            return float(line.split()[-1])
    return 0.0


def _answer_into(client: AwsomeChatClient, question: str, results: dict[str, object]) -> None:
    try:
        results["answer"] = client.chat(question)
    except Exception as exc:  # reported by the test
        results["error"] = exc


def test_a_full_answer_queue_is_retried_after_retry_after(limited: LiveServer) -> None:
    question = (
        "Explain the maximum AWS Lambda deployment package size zipped and unzipped and the container"
        " image size."
    )
    holder = AwsomeChatClient(limited.url, limited.create_user("holder"))
    patient = AwsomeChatClient(
        limited.url, limited.create_user("waiter"), retry=Retry(attempts=300, max_wait_s=90)
    )
    impatient = AwsomeChatClient(limited.url, limited.create_user("impatient"), retry=NO_RETRY)
    refused: ServiceUnavailableError | None = None
    results: dict[str, object] = {}
    with holder, patient, impatient:
        # While the holder's answer is generating, the impatient client is refused at once and the
        # patient one waits Retry-After (1 s) and tries again until the slot is free. The small model
        # may finish a short answer before the others' requests land, so try a few times.
        for _ in range(5):
            before = _queue_full_count(limited)
            refused, results = None, {}
            waiter = threading.Thread(target=_answer_into, args=(patient, question, results))
            for event in holder.chat_stream(question):
                if event.type == "token" and waiter.ident is None:
                    try:
                        impatient.chat(question)
                    except ServiceUnavailableError as exc:
                        refused = exc
                    waiter.start()
            waiter.join(timeout=600)
            assert "error" not in results, results
            if refused is not None and _queue_full_count(limited) >= before + 2:
                break
        else:
            raise AssertionError("the queue never refused both clients while an answer was generating")
    assert refused is not None and refused.retry_after == 1
    assert refused.problem["type"].endswith("queue-full") and refused.status == 503
    # The patient client was refused too (the second count), retried, and got its answer.
    answer = results["answer"]
    assert isinstance(answer, Answer) and answer.session_id


@pytest.mark.slow
def test_rate_limited_requests_wait_for_retry_after(limited: LiveServer) -> None:
    key = limited.create_user("eager")
    with AwsomeChatClient(limited.url, key, retry=NO_RETRY) as c:
        for _ in range(60):
            c.list_sessions()
        with pytest.raises(RateLimitedError) as limited_err:
            c.list_sessions()
    wait = limited_err.value.retry_after
    assert wait is not None and 1 <= wait <= 61
    started = time.monotonic()
    with AwsomeChatClient(limited.url, key, retry=Retry(attempts=3, max_wait_s=90)) as c:
        assert c.list_sessions() == []
    waited = time.monotonic() - started
    assert waited >= wait - 2, (waited, wait)  # it waited as long as the server asked, then got through
    # A fresh key (the first one's sliding window still holds the burst above, however slow it was).
    with AwsomeChatClient(limited.url, limited.create_user("eager2"), retry=Retry(max_wait_s=0.5)) as c:
        for _ in range(60):
            c.list_sessions()
        started = time.monotonic()
        with pytest.raises(RateLimitedError):  # a wait over max_wait_s is not waited for
            c.list_sessions()
        assert time.monotonic() - started < 5
