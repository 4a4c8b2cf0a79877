"""Messages within the character limit but over the model's context (issue 11, finding 2).

An 8,000-character message of emoji is 16,000 tokens for the small model (2,048 of context): it
used to reach the model and come back as a 502 (or an error event once the stream had started).
The question, the history and the passages are now budgeted in the model's tokens: history is
trimmed first, then passages, and a question that cannot fit alone is a 422 naming the field,
before any response starts.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from awsomechat.chat.budget import MIN_PASSAGE_TOKENS, PROMPT_OVERHEAD_TOKENS
from awsomechat.chat.prompts import BUILTIN_PROFILES
from awsomechat.seams import ChatModel, Embedder
from tests.api.conftest import ARTIFACTS, seed
from tests.live import SMALL_MODEL_ENV, LiveServer, live_server

pytestmark = pytest.mark.security

LAMBDA_Q = "What is the maximum deployment package size for AWS Lambda?"
N_CTX = int(SMALL_MODEL_ENV["AWSOMECHAT_LLM__N_CTX"])
ANSWER_TOKENS = int(SMALL_MODEL_ENV["AWSOMECHAT_LLM__MAX_ANSWER_TOKENS"])
# Within the 8,000-character limit; two tokens per emoji for the small model.
HUGE = LAMBDA_Q + " " + "🙂" * (8000 - len(LAMBDA_Q) - 1)


@pytest.fixture(scope="module")
def server(data_dir: Path, embedder: Embedder) -> Iterator[LiveServer]:
    # The model rewrites follow-ups here (not the default topic method): its prompt is what must fit.
    env = {"AWSOMECHAT_CHAT__REWRITE_METHOD": "model"}
    with live_server(data_dir, embedder, ARTIFACTS / "logs", setup=seed, env=env) as s:
        yield s


def _assert_field_problem(r: httpx.Response, field: str) -> None:
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["errors"][0]["field"] == field
    assert "tokens" in body["detail"] and str(N_CTX) in body["detail"]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_message_over_the_context_is_422_on_chat(server: LiveServer, stream: bool) -> None:
    with server.client(server.admin_key) as c:
        r = c.post("/v1/chat", json={"message": HUGE, "stream": stream})
    _assert_field_problem(r, "message")


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_message_over_the_context_is_422_on_chat_completions(server: LiveServer, stream: bool) -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hi! Ask me about the documents."},
        {"role": "user", "content": HUGE},
    ]
    with server.client(server.admin_key) as c:
        r = c.post(
            "/v1/chat/completions", json={"model": "awsomechat", "messages": messages, "stream": stream}
        )
    _assert_field_problem(r, "messages[3].content")
    assert r.json()["error"]["param"] == "messages[3].content"


def test_question_that_fits_alone_gets_fewer_passages_not_an_error(
    server: LiveServer, small_model: ChatModel
) -> None:
    """A question that leaves room for one passage but not for all that were found."""
    profile = BUILTIN_PROFILES["chat"]
    # The question first (the embedder reads the first 256 tokens), then emoji to fill the context.
    head = (LAMBDA_Q + " ") * 17

    def room(message: str) -> int:
        used = small_model.count_tokens(profile.system) + small_model.count_tokens(
            profile.user_message("", message)
        )
        return N_CTX - used - ANSWER_TOKENS - PROMPT_OVERHEAD_TOKENS

    n = (room(head) - MIN_PASSAGE_TOKENS - 16) // 2
    message = head + "🙂" * n
    assert MIN_PASSAGE_TOKENS <= room(message) <= MIN_PASSAGE_TOKENS + 24  # every passage would not fit
    with server.client(server.admin_key) as c:
        r = c.post("/v1/chat", json={"message": message, "stream": False})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["abstained"] is False and body["sources"]
    assert body["sources"][0]["title"] == "Lambda quotas"
    assert body["prompt_tokens"] + ANSWER_TOKENS <= N_CTX


def test_long_history_is_trimmed_to_the_context(server: LiveServer) -> None:
    """Earlier turns that would overflow the rewrite prompt are left out, newest kept."""
    messages: list[dict[str, str]] = []
    for i in range(5):
        messages += [
            {"role": "user", "content": f"Tell me about VPN tunnel number {i}."},
            {"role": "assistant", "content": "🙂" * 290},  # ~580 tokens each in the rewrite prompt
        ]
    messages += [
        {"role": "user", "content": LAMBDA_Q},
        {"role": "assistant", "content": "It is 50 MB zipped [1]."},
        {"role": "user", "content": "And what about its unzipped size?"},  # leans on the conversation
    ]
    with server.client(server.admin_key) as c:
        r = c.post("/v1/chat/completions", json={"model": "awsomechat", "messages": messages})
    assert r.status_code == 200, r.text
    ext = r.json()["awsomechat"]
    assert ext["rewritten"] is True  # the newest turn was kept for the rewrite
    assert r.json()["usage"]["prompt_tokens"] > 0
