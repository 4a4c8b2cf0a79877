"""The OpenAI-compatible endpoints as real clients see them: the official ``openai`` package and
LangChain's ``ChatOpenAI``, pointed at a live server with the small model.

SmolLM2-135M writes poor text, so these tests check structure, sources, citations and the
extension fields (``citations``, ``awsomechat``), never the wording of an answer.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI
from openai import OpenAI

from tests.live import LiveServer

LAMBDA_Q = "What is the maximum deployment package size for AWS Lambda?"
LAMBDA_TITLE = "Lambda quotas"
OFF_TOPIC_Q = "What is the capital of France?"
PAYROLL_Q = "How are salaries paid at Octank?"
TIMEOUT = 300.0  # s per request: on a loaded 2-core machine one small-model answer has taken ~60 s

# [1], [1, 3], [1][2], [1-2]: the markers the server adds or drops after generation.
_MARKER = re.compile(r"\[\d{1,3}(?:\s*[,–-]\s*\d{1,3})*\]")


def answer_part(content: str) -> str:
    """An OpenAI message's content without the list of sources the route appends to it."""
    return re.split(r"\n\n(?:Closest sources|Sources):\n", content)[0]


def plain(text: str) -> str:
    """The answer without citation markers and with normalised spacing.

    Streamed deltas are the model's raw text; the final answer (``content`` when not streaming,
    ``awsomechat.answer`` in the last chunk) has had ``[n]`` markers added to uncited sentences and
    markers pointing at nothing removed. Apart from the markers they must be the same text.
    """
    text = _MARKER.sub("", text)
    text = re.sub(r"\s+", " ", text)
    return re.sub(r" ([.,;:!?])", r"\1", text).strip()


@pytest.fixture(scope="module")
def reader(server: LiveServer) -> str:
    """A user in no group: sees the public documents only."""
    return server.create_user(f"reader-{uuid.uuid4().hex[:6]}")


@pytest.fixture(scope="module")
def client(server: LiveServer, reader: str) -> Iterator[OpenAI]:
    # No retries: a 5xx or 429 must show up as a failure, not be hidden by the client.
    with OpenAI(base_url=server.url + "/v1", api_key=reader, timeout=TIMEOUT, max_retries=0) as c:
        yield c


def chat_model(server: LiveServer, key: str, **kw: Any) -> ChatOpenAI:
    return ChatOpenAI(
        base_url=server.url + "/v1", api_key=key, model="awsomechat", timeout=TIMEOUT, max_retries=0, **kw
    )


def extension(obj: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The ``citations`` and ``awsomechat`` extension fields of a completion or its last chunk."""
    extra = obj.model_extra or {}
    assert "citations" in extra and "awsomechat" in extra, f"no extension fields in {obj!r}"
    return extra["citations"], extra["awsomechat"]


def titles(citations: list[dict[str, Any]]) -> list[str]:
    return [c["title"] for c in citations]


def assert_cites_lambda(citations: list[dict[str, Any]], ext: dict[str, Any]) -> None:
    assert LAMBDA_TITLE in titles(citations), citations
    lam = next(c for c in citations if c["title"] == LAMBDA_TITLE)
    assert "50 MB" in lam["excerpt"] and lam["uri"].endswith("lambda.md"), lam
    # Every cited passage is one of the passages given to the model, with the same number.
    by_n = {s["n"]: s for s in ext["sources"]}
    for c in citations:
        assert by_n.get(c["n"]) == c, (c, ext["sources"])


# ---------------------------------------------------------------------------------- models


def test_models_list_names_the_profiles(client: OpenAI) -> None:
    models = list(client.models.list())
    ids = [m.id for m in models]
    assert "awsomechat" in ids and "awsomechat-email_reply" in ids, ids
    assert len(ids) == len(set(ids))
    for m in models:
        assert m.object == "model" and m.owned_by == "awsomechat" and m.created > 0
    assert client.models.retrieve("awsomechat-email_reply").id == "awsomechat-email_reply"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-5-turbo-ultra")


# ------------------------------------------------------------------------- openai client


def test_completion_answers_with_citations(server: LiveServer, client: OpenAI, reader: str) -> None:
    r = client.chat.completions.create(model="awsomechat", messages=[{"role": "user", "content": LAMBDA_Q}])
    assert r.object == "chat.completion" and r.id.startswith("chatcmpl-") and r.model == "awsomechat"
    assert len(r.choices) == 1
    choice = r.choices[0]
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    content = choice.message.content or ""
    assert content.strip()
    citations, ext = extension(r)
    # The content is the answer, then the cited sources with links a reader can open.
    assert content.startswith(ext["answer"]) and content != ext["answer"]
    assert all(f"[{c['n']}] " in content and f"({c['url']})" in content for c in citations)
    assert ext["abstained"] is False
    assert_cites_lambda(citations, ext)
    assert ext["sources"][0]["title"] == LAMBDA_TITLE  # the best passage comes first
    assert ext["rewritten"] is False and ext["standalone_question"] == LAMBDA_Q
    assert r.usage is not None
    assert r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    # OpenAI clients are stateless: without the session_id extension nothing is stored.
    assert ext["session_id"] is None and ext["message_id"] is None
    with server.client(reader) as http:
        assert http.get("/v1/sessions").json()["sessions"] == []


def test_streaming_deltas_match_the_final_answer(client: OpenAI) -> None:
    stream = client.chat.completions.create(
        model="awsomechat", messages=[{"role": "user", "content": LAMBDA_Q}], stream=True
    )
    chunks = list(stream)
    assert len(chunks) >= 3
    assert {c.id for c in chunks} == {chunks[0].id} and chunks[0].id.startswith("chatcmpl-")
    assert all(c.object == "chat.completion.chunk" and c.model == "awsomechat" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.usage is None for c in chunks)  # not asked for
    finished = [c for c in chunks if c.choices and c.choices[0].finish_reason is not None]
    assert len(finished) == 1 and finished[0] is chunks[-1]
    assert finished[0].choices[0].finish_reason == "stop"
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed.strip()
    citations, ext = extension(chunks[-1])
    assert ext["abstained"] is False
    assert_cites_lambda(citations, ext)
    answer, _, listed = streamed.partition("\n\nSources:\n")
    assert plain(answer) == plain(ext["answer"]), (streamed, ext["answer"])
    assert all(f"({c['url']})" in listed for c in citations)


def test_stream_options_include_usage(client: OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="awsomechat",
            messages=[{"role": "user", "content": LAMBDA_Q}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    with_usage = [c for c in chunks if c.usage is not None]
    assert len(with_usage) == 1 and with_usage[0] is chunks[-1], chunks[-3:]
    last = chunks[-1]
    assert last.choices == []  # the usage chunk carries no choice, as OpenAI's does
    assert last.usage is not None
    assert last.usage.prompt_tokens > 0 and last.usage.completion_tokens > 0
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens
    assert chunks[-2].choices[0].finish_reason == "stop"


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_question_outside_the_documents_abstains(client: OpenAI, stream: bool) -> None:
    messages: Any = [{"role": "user", "content": OFF_TOPIC_Q}]
    if stream:
        chunks = list(client.chat.completions.create(model="awsomechat", messages=messages, stream=True))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        citations, ext = extension(chunks[-1])
        assert chunks[-1].choices[0].finish_reason == "stop"
    else:
        r = client.chat.completions.create(model="awsomechat", messages=messages)
        text = r.choices[0].message.content or ""
        citations, ext = extension(r)
        assert r.usage is not None and r.usage.completion_tokens == 0  # the model was not asked
    assert ext["abstained"] is True
    assert citations == []
    # The abstention is a fixed text, not generated; the closest passages are listed below it.
    assert text.strip() and text.startswith(ext["answer"] + "\n\nClosest sources:\n")
    assert len(ext["sources"]) >= 1 and all(f"({s['url']})" in text for s in ext["sources"])


def test_documents_of_other_groups_stay_hidden(server: LiveServer, client: OpenAI) -> None:
    messages: Any = [{"role": "user", "content": PAYROLL_Q}]
    r = client.chat.completions.create(model="awsomechat", messages=messages)
    citations, ext = extension(r)
    assert ext["abstained"] is True
    assert "Payroll calendar" not in titles(citations) + titles(ext["sources"])

    finance_key = server.create_user(f"fin-{uuid.uuid4().hex[:6]}", groups=("finance",))
    with OpenAI(base_url=server.url + "/v1", api_key=finance_key, timeout=TIMEOUT, max_retries=0) as fin:
        r = fin.chat.completions.create(model="awsomechat", messages=messages)
    citations, ext = extension(r)
    assert ext["abstained"] is False
    assert ext["sources"][0]["title"] == "Payroll calendar"
    assert (r.choices[0].message.content or "").strip()


def test_multi_turn_messages_use_the_history(client: OpenAI) -> None:
    follow_up = "and container images?"
    history: Any = [
        {"role": "system", "content": "You are a helpful assistant."},  # ignored: the profile's prompt rules
        {"role": "user", "content": LAMBDA_Q},
        {"role": "assistant", "content": "It is 50 MB zipped and 250 MB unzipped [1]."},
        {"role": "user", "content": follow_up},
    ]
    r = client.chat.completions.create(model="awsomechat", messages=history)
    _, ext = extension(r)
    assert (r.choices[0].message.content or "").strip()
    assert ext["abstained"] is False
    # The follow-up leans on the conversation, so it was rewritten with the history before retrieval.
    assert ext["rewritten"] is True
    assert ext["standalone_question"] and ext["standalone_question"] != follow_up
    assert ext["sources"][0]["title"] == LAMBDA_TITLE
    assert ext["session_id"] is None  # still nothing stored

    alone = client.chat.completions.create(model="awsomechat", messages=history[-1:])
    _, ext_alone = extension(alone)
    assert ext_alone["rewritten"] is False and ext_alone["standalone_question"] == follow_up
    # The conversation's subject was carried in (chat.rewrite_method = topic: no model call).
    assert "AWS Lambda" in ext["standalone_question"]


def test_a_pronoun_follow_up_takes_the_subject_without_a_model_call(client: OpenAI) -> None:
    """The same follow-up handling as native sessions: "it" becomes the conversation's subject,
    and no rewrite call is made for it."""
    messages: Any = [
        {"role": "user", "content": LAMBDA_Q},
        {"role": "assistant", "content": "It is 50 MB zipped and 250 MB unzipped [1]."},
        {"role": "user", "content": "How large can its container images be?"},
    ]
    r = client.chat.completions.create(model="awsomechat", messages=messages)
    _, ext = extension(r)
    assert ext["rewritten"] is True
    assert ext["standalone_question"] == "How large can AWS Lambda's container images be?"
    alone = client.chat.completions.create(
        model="awsomechat", messages=[{"role": "user", "content": ext["standalone_question"]}]
    )
    # About the same prompt as asking the standalone question directly (the same two public pages
    # are found): no rewrite call, whose prompt alone is several hundred tokens, was made.
    assert r.usage is not None and alone.usage is not None
    assert abs(r.usage.prompt_tokens - alone.usage.prompt_tokens) < 100


def test_content_parts_and_email_profile(client: OpenAI) -> None:
    r = client.chat.completions.create(
        model="awsomechat-email_reply",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Hello, what is the maximum deployment package size "},
                    {"type": "text", "text": "for AWS Lambda? Thanks, Sam"},
                ],
            }
        ],
    )
    assert r.model == "awsomechat-email_reply"
    assert (r.choices[0].message.content or "").strip()
    _, ext = extension(r)
    assert ext["abstained"] is False
    assert LAMBDA_TITLE in titles(ext["sources"])


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_unknown_model_is_not_found(client: OpenAI, stream: bool) -> None:
    with pytest.raises(openai.NotFoundError) as exc:
        client.chat.completions.create(
            model="gpt-17-ultra", messages=[{"role": "user", "content": LAMBDA_Q}], stream=stream
        )
    assert exc.value.status_code == 404
    # Still a problem document, with OpenAI's `error` object where the client reads message and code.
    assert exc.value.response.headers["content-type"].startswith("application/problem+json")
    assert "gpt-17-ultra" in exc.value.message
    assert exc.value.code == "model_not_found" and exc.value.param == "model"


def test_bad_key_is_an_authentication_error(server: LiveServer) -> None:
    with OpenAI(base_url=server.url + "/v1", api_key="awc_bogus_key", timeout=TIMEOUT, max_retries=0) as bad:
        with pytest.raises(openai.AuthenticationError) as exc:
            bad.chat.completions.create(model="awsomechat", messages=[{"role": "user", "content": LAMBDA_Q}])
        assert exc.value.status_code == 401 and exc.value.code == "invalid_api_key"
        assert "key" in exc.value.message.lower()
        assert exc.value.response.headers.get("www-authenticate", "").startswith("Bearer")
        with pytest.raises(openai.AuthenticationError):
            bad.models.list()


@pytest.mark.parametrize(
    "messages",
    [
        [{"role": "user", "content": LAMBDA_Q}, {"role": "assistant", "content": "50 MB."}],
        [{"role": "system", "content": "Only a system message."}],
        [{"role": "user", "content": "   "}],
        [],
    ],
    ids=["ends-with-assistant", "no-user-message", "blank", "empty"],
)
def test_unanswerable_message_lists_are_rejected(client: OpenAI, messages: Any) -> None:
    with pytest.raises(openai.UnprocessableEntityError) as exc:
        client.chat.completions.create(model="awsomechat", messages=messages)
    assert exc.value.response.headers["content-type"].startswith("application/problem+json")
    assert any(e["field"].startswith("messages") for e in exc.value.response.json()["errors"])
    assert exc.value.param is not None and exc.value.param.startswith("messages")
    assert exc.value.message != "Error code: 422"  # the reason reaches the caller


def test_session_extension_continues_a_stored_conversation(
    server: LiveServer, client: OpenAI, reader: str
) -> None:
    with server.client(reader) as http:
        first = http.post("/v1/chat", json={"message": LAMBDA_Q, "stream": False})
        assert first.status_code == 200, first.text
        session_id = first.json()["session_id"]
        r = client.chat.completions.create(
            model="awsomechat",
            messages=[{"role": "user", "content": "and container images?"}],
            extra_body={"session_id": session_id},
        )
        _, ext = extension(r)
        assert ext["session_id"] == session_id and ext["message_id"]
        assert ext["rewritten"] is True  # the stored turn is the history
        turns = http.get(f"/v1/sessions/{session_id}/messages").json()["messages"]
    assert [t["question"] for t in turns] == [LAMBDA_Q, "and container images?"]
    assert turns[1]["id"] == ext["message_id"] and turns[1]["answer"] == answer_part(
        r.choices[0].message.content or ""
    )

    with pytest.raises(openai.NotFoundError):  # someone else's (or no) session
        client.chat.completions.create(
            model="awsomechat",
            messages=[{"role": "user", "content": LAMBDA_Q}],
            extra_body={"session_id": str(uuid.uuid4())},
        )


# ------------------------------------------------------------------------------ LangChain


def test_langchain_invoke(server: LiveServer, reader: str) -> None:
    llm = chat_model(server, reader)
    msg = llm.invoke([SystemMessage("Answer briefly."), HumanMessage(LAMBDA_Q)])
    assert isinstance(msg, AIMessage)
    assert isinstance(msg.content, str) and msg.content.strip()
    assert msg.response_metadata["model_name"] == "awsomechat"
    assert msg.response_metadata["finish_reason"] == "stop"
    assert msg.usage_metadata is not None
    assert msg.usage_metadata["input_tokens"] > 0 and msg.usage_metadata["output_tokens"] > 0


def test_langchain_stream_matches_the_stored_turn(server: LiveServer, reader: str) -> None:
    """LangChain drops extension fields, so the streamed text is compared with the stored turn
    (the ``session_id`` extension, sent through ``extra_body``, makes the server store it)."""
    with server.client(reader) as http:
        first = http.post("/v1/chat", json={"message": LAMBDA_Q, "stream": False})
        assert first.status_code == 200, first.text
        session_id = first.json()["session_id"]
        llm = chat_model(server, reader, stream_usage=True, extra_body={"session_id": session_id})
        chunks = list(llm.stream([HumanMessage(LAMBDA_Q)]))
        turns = http.get(f"/v1/sessions/{session_id}/messages").json()["messages"]
    assert len(chunks) >= 3 and all(isinstance(c, AIMessageChunk) for c in chunks)
    whole = chunks[0]
    for c in chunks[1:]:
        whole += c
    assert isinstance(whole.content, str) and whole.content.strip()
    assert whole.response_metadata.get("finish_reason") == "stop"
    assert whole.usage_metadata is not None and whole.usage_metadata["output_tokens"] > 0
    assert len(turns) == 2, turns
    stored = turns[1]
    assert stored["abstained"] is False
    assert plain(answer_part(whole.content)) == plain(stored["answer"]), (whole.content, stored["answer"])
    assert LAMBDA_TITLE in titles(stored["citations"])
