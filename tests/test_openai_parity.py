"""The same conversation through a native session and through OpenAI ``messages`` (issue 13, item
4): the follow-ups are rewritten, searched and answered (or abstained) the same way."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from awsomechat.api.app import create_app
from awsomechat.chat.prompts import get_profile
from awsomechat.chat.stateless import answer_text, standalone_history
from awsomechat.container import Container
from awsomechat.eval.conversations import evaluate_paths
from awsomechat.ingest.pipeline import IngestOptions
from awsomechat.seams import ChatModel, Embedder
from awsomechat.settings import ChatSettings, Settings

ROOT = Path(__file__).resolve().parents[1]
KENDRA = ROOT / "src" / "awsomechat" / "sample_kb" / "amazon-kendra-developer-guide"
PAGES = ("what-is-kendra.md", "hiw-data-source.md", "index-document-types.md", "data-source.md",
         "in-creating-faq.md", "quotas.md", "adjusting-capacity.md", "how-it-works.md")  # fmt: skip
CONVERSATIONS = ("mt-001", "mt-002")  # 6 follow-ups: 4 lean on a subject, 2 on an earlier rewrite


def test_earlier_questions_are_made_standalone_as_a_session_stores_them() -> None:
    chat, profile = ChatSettings(), get_profile("chat", {})
    pairs = [
        ("What is Amazon Kendra?", "An enterprise search service [1].\n\nSources:\n[1] [What is Kendra](https://x)"),
        ("How much does it cost?", "It has a free tier [1]."),
        ("What limits does the Developer Edition have?", "The documents I can search do not cover this."
         "\n\nClosest sources:\n- [Quotas](https://y)"),
    ]  # fmt: skip
    history = standalone_history(pairs, chat=chat, profile=profile)
    assert [q for q, _ in history] == [
        "What is Amazon Kendra?",
        "How much does Amazon Kendra cost?",  # the subject a session's stored turn carries
        "What limits does the Developer Edition have?",
    ]
    # The sources list the route appended to each answer is not part of the answer.
    assert [a for _, a in history] == [
        "An enterprise search service [1].", "It has a free tier [1].",
        "The documents I can search do not cover this.",
    ]  # fmt: skip
    assert answer_text("No list here.") == "No list here."
    # As a session loads only the last chat.history_turns turns.
    two = standalone_history(pairs, chat=ChatSettings(history_turns=2), profile=profile)
    assert [q for q, _ in two] == [q for q, _ in history[-2:]]
    assert standalone_history(pairs, chat=ChatSettings(history_turns=0), profile=profile) == ()


@pytest.fixture
def client(
    settings: Settings, embedder: Embedder, small_model: ChatModel, tmp_path: Path
) -> Iterator[TestClient]:
    folder = tmp_path / "kb" / KENDRA.name
    folder.mkdir(parents=True)
    for page in PAGES:
        shutil.copy(KENDRA / page, folder / page)
    # Short answers: what is compared is what each path searched and whether it answered.
    settings = settings.model_copy(update={"llm": settings.llm.model_copy(update={"max_answer_tokens": 16})})
    c = Container(settings, embedder=embedder, chat_model=small_model)
    try:
        report = c.ingestion.ingest([str(tmp_path / "kb")], IngestOptions())
        assert not report.failed and len(report.document_ids) == len(PAGES)
        c.keys.add_user("parity")
        key = c.keys.create_key("parity", "t")[1]
        app = create_app(settings, container=c)
        with TestClient(app, headers={"Authorization": f"Bearer {key}"}) as http:
            yield http
    finally:
        c.close()


def test_the_same_conversations_through_both_paths(client: TestClient, tmp_path: Path) -> None:
    lines = [line for line in (ROOT / "evaldata" / "multiturn.jsonl").read_text().splitlines()
             if json.loads(line)["id"] in CONVERSATIONS]  # fmt: skip
    dataset = tmp_path / "kendra-conversations.jsonl"
    dataset.write_text("\n".join(lines), encoding="utf-8")
    result = evaluate_paths(dataset, client, paths=("native", "openai"))
    native, openai = result["paths"]["native"], result["paths"]["openai"]
    assert native["follow_ups"] == openai["follow_ups"] == 6
    assert result["differing"] == []
    assert result["same_standalone_question"] == result["same_sources"] == 1.0
    assert result["same_answered_or_abstained"] == 1.0
    assert native["recall@5"] == openai["recall@5"] > 0.5
    assert native["rewritten"] == openai["rewritten"] > 0
    # The run's sessions were deleted.
    assert client.get("/v1/sessions").json()["sessions"] == []
