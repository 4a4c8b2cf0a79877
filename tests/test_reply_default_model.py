"""``awsomechat reply`` with the default model (Qwen2.5-Coder-1.5B, Q4_K_M) on Maria's e-mail
(em-001 of the packaged e-mail set) over a corpus of the two Lambda pages that answer it: the
reply is a grounded answer, not a hand-off; it greets Maria, cites its sources and states the
250 MB limit.

Slow: loads the 1.1 GB model and drafts one reply on the CPU (one prompt of ~1,000 tokens and at
most 110 answer tokens). On this 2-core machine shared at a load average of 7-12 it took 260-380 s;
the reduced context below (600 passage tokens, 3 passages, 110 answer tokens) is the smallest
prompt that still holds both answering passages; the ~60 s target was not reached on that machine.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from awsomechat.chat.events import FinalEvent, TokenEvent
from awsomechat.chat.service import ChatRequest
from awsomechat.container import Container
from awsomechat.eval.replies import load_emails
from awsomechat.ingest.pipeline import IngestOptions
from tests.conftest import SHARED_DATA

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

EMAILS = Path(__file__).resolve().parents[1] / "src/awsomechat/eval/data/emails_eval.jsonl"
PAGES = [
    "aws-lambda-developer-guide/gettingstarted-limits.md",
    "aws-lambda-developer-guide/configuration-layers.md",
]


@pytest.fixture
def kb(container: Container, tmp_path: Path) -> Iterator[Container]:
    from awsomechat.chat.models.llamacpp import LlamaCppChatModel
    from awsomechat.chat.models.packaged import default_model_path
    from awsomechat.settings import LlamaCppSettings

    docs = tmp_path / "docs"
    for page in PAGES:
        (docs / page).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SHARED_DATA / "awsdocs" / "docs" / page, docs / page)
    report = container.ingestion.ingest([str(docs)], IngestOptions())
    assert report.added == len(PAGES)
    # The default model with the default settings, as `awsomechat reply` builds it (greedy, so
    # the test does not depend on a sampling seed).
    path = default_model_path(container.settings.data_dir)
    container.__dict__["chat_model"] = LlamaCppChatModel(path, LlamaCppSettings(temperature=0.0))
    container.settings.llm.temperature = 0.0
    container.settings.chat.verify = "lexical"  # the product's default (tests/conftest.py turns it off)
    # A smaller prompt and answer than the defaults (1,400 passage tokens, 200 answer tokens) keep
    # the CPU time near a minute; the two passages that hold the answer still fit.
    container.settings.chat.context_tokens = 600
    container.settings.chat.max_passages = 3
    container.settings.llm.max_answer_tokens = 110
    yield container


def test_default_model_replies_to_maria_with_the_250_mb_limit(kb: Container) -> None:
    mail = next(e for e in load_emails(EMAILS) if e.id == "em-001")
    assert mail.sender == "Maria"
    start = time.monotonic()
    # The path `awsomechat reply` takes: one e-mail turn streamed from the chat service.
    events = list(kb.chat.stream(ChatRequest(user_id="cli", message=mail.email, profile="email_reply")))
    elapsed = time.monotonic() - start
    final = events[-1]
    assert isinstance(final, FinalEvent)
    reply = final.answer
    assert reply.startswith(("Hi Maria,", "Hello Maria,", "Dear Maria,")), reply
    assert not final.abstained and final.timings.get("handed_off_requests", 0) == 0, reply
    assert "follow up" not in reply, reply  # a (partial) hand-off says a colleague will follow up
    assert re.search(r"250\s*MB", reply), reply
    assert final.citations, reply
    assert {c.uri.rsplit("/", 1)[-1] for c in final.citations} <= {p.rsplit("/", 1)[-1] for p in PAGES}
    assert re.search(r"\[\d+\]", reply), reply  # the sources are cited in the text
    streamed = "".join(e.text for e in events if isinstance(e, TokenEvent))
    assert streamed.startswith("H") and "250" in streamed  # what `awsomechat reply` prints
    print(f"reply drafted in {elapsed:.1f} s ({final.model}, {final.timings}):\n{reply}")
