"""Conversation memory contract on the real store: sessions, turns, feedback, per-user isolation."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest

from awsomechat.chat.types import Citation, NewTurn
from awsomechat.container import Container
from awsomechat.errors import AwsomeChatError, NotFoundError
from awsomechat.seams import ConversationStore

CITE = Citation(n=1, chunk_id=7, document_id=3, title="Kendra", uri="file:///k.md", heading_path=("A", "B"))


def _turn(q: str, a: str = "answer [1]") -> NewTurn:
    return NewTurn(question=q, standalone_question=q, answer=a, citations=(CITE,), sources=(CITE,),
                   model="m", prompt_tokens=10, completion_tokens=5, timings={"total_s": 1.5})  # fmt: skip


class ConversationStoreContract:
    """What every conversation store must do (PostgreSQL now, DynamoDB with the AWS issue)."""

    def test_session_lifecycle(self, memory: ConversationStore) -> None:
        s = memory.create_session("alice")
        assert s.title == "" and s.profile == "chat"
        t1 = memory.append_turn("alice", s.id, _turn("How do I add documents to a Kendra index?"))
        t2 = memory.append_turn("alice", s.id, _turn("And how do I delete them?"))
        assert (t1.seq, t2.seq) == (1, 2)
        got = memory.get_session("alice", s.id)
        assert got.title == "How do I add documents to a Kendra index?" and got.message_count == 2
        turns = memory.turns("alice", s.id)
        assert [t.question for t in turns] == [
            "How do I add documents to a Kendra index?",
            "And how do I delete them?",
        ]
        assert turns[0].citations == (CITE,) and turns[0].timings == {"total_s": 1.5}
        assert [t.seq for t in memory.turns("alice", s.id, last=1)] == [2]
        renamed = memory.rename_session("alice", s.id, "  Kendra   docs ")
        assert renamed.title == "Kendra docs"
        memory.delete_session("alice", s.id)
        with pytest.raises(NotFoundError):
            memory.get_session("alice", s.id)

    def test_sessions_are_listed_newest_first(self, memory: ConversationStore) -> None:
        a = memory.create_session("bob", title="first")
        b = memory.create_session("bob", title="second")
        memory.append_turn("bob", a.id, _turn("bump a"))
        assert [s.id for s in memory.list_sessions("bob")] == [a.id, b.id]
        assert memory.list_sessions("nobody") == []

    def test_users_never_see_each_others_data(self, memory: ConversationStore) -> None:
        s = memory.create_session("alice")
        t = memory.append_turn("alice", s.id, _turn("secret question"))
        for attempt in (
            lambda: memory.get_session("mallory", s.id),
            lambda: memory.turns("mallory", s.id),
            lambda: memory.append_turn("mallory", s.id, _turn("x")),
            lambda: memory.rename_session("mallory", s.id, "pwned"),
            lambda: memory.delete_session("mallory", s.id),
            lambda: memory.message("mallory", t.id),
            lambda: memory.set_feedback("mallory", t.id, 1),
            lambda: memory.get_session("alice", uuid.uuid4()),
        ):
            with pytest.raises(NotFoundError):
                attempt()
        assert memory.list_sessions("mallory") == []
        assert memory.get_session("alice", s.id).title == "secret question"

    def test_feedback_is_stored_and_replaced(self, memory: ConversationStore) -> None:
        s = memory.create_session("carol")
        t = memory.append_turn("carol", s.id, _turn("q"))
        memory.set_feedback("carol", t.id, -1, "wrong version")
        fb = memory.set_feedback("carol", t.id, 1, "fixed now")
        assert (fb.rating, fb.comment) == (1, "fixed now")
        stored = memory.message("carol", t.id)
        assert (stored.rating, stored.feedback_comment) == (1, "fixed now")
        with pytest.raises(AwsomeChatError):
            memory.set_feedback("carol", t.id, 5)

    def test_concurrent_turns_get_distinct_sequence_numbers(self, memory: ConversationStore) -> None:
        s = memory.create_session("dave")
        errors: list[BaseException] = []

        def add(i: int) -> None:
            try:
                memory.append_turn("dave", s.id, _turn(f"q{i}"))
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=add, args=(i,)) for i in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert errors == []
        assert [t.seq for t in memory.turns("dave", s.id)] == list(range(1, 9))


class TestPgConversationStore(ConversationStoreContract):
    @pytest.fixture
    def memory(self, container: Container) -> Iterator[ConversationStore]:
        yield container.conversations
