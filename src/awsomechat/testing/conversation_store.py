"""What every ``ConversationStore`` backend must do: sessions, turns, feedback, per-user isolation.

Subclass :class:`ConversationStoreContract` and provide a ``memory`` fixture yielding a store
(a fresh one per test, or one whose user ids the tests do not collide with: every test uses its
own user names). PostgreSQL runs it in ``tests/test_memory.py``, DynamoDB (moto in server mode)
in ``tests/test_memory_dynamodb.py``.
"""

from __future__ import annotations

import threading
import uuid

import pytest

from awsomechat.chat.types import Citation, NewTurn
from awsomechat.errors import AwsomeChatError, NotFoundError
from awsomechat.seams import ConversationStore

__all__ = ["CITE", "ConversationStoreContract", "make_turn"]

CITE = Citation(
    n=1, chunk_id="7", document_id="3", title="Kendra", uri="file:///k.md", heading_path=("A", "B")
)


def make_turn(q: str, a: str = "answer [1]") -> NewTurn:
    """A finished turn with one citation, as the chat service stores it."""
    return NewTurn(question=q, standalone_question=q, answer=a, citations=(CITE,), sources=(CITE,),
                   model="m", prompt_tokens=10, completion_tokens=5, timings={"total_s": 1.5})  # fmt: skip


class ConversationStoreContract:
    """The behaviours every conversation store must show; a backend adds the ``memory`` fixture."""

    def test_session_lifecycle(self, memory: ConversationStore) -> None:
        s = memory.create_session("alice")
        assert s.title == "" and s.profile == "chat"
        t1 = memory.append_turn("alice", s.id, make_turn("How do I add documents to a Kendra index?"))
        t2 = memory.append_turn("alice", s.id, make_turn("And how do I delete them?"))
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
        memory.append_turn("bob", a.id, make_turn("bump a"))
        assert [s.id for s in memory.list_sessions("bob")] == [a.id, b.id]
        assert memory.list_sessions("nobody") == []

    def test_session_listing_pages_without_gaps_or_repeats(self, memory: ConversationStore) -> None:
        made = [memory.create_session("erin", title=f"s{i}") for i in range(7)]
        pages = [memory.list_sessions("erin", limit=3, offset=o) for o in (0, 3, 6, 9)]
        assert [len(p) for p in pages] == [3, 3, 1, 0]
        listed = [s.id for p in pages for s in p]
        assert listed == [s.id for s in reversed(made)]  # newest first
        assert memory.list_sessions("erin", limit=2)[0].title == "s6"

    def test_turns_keep_everything_a_reader_shows(self, memory: ConversationStore) -> None:
        s = memory.create_session("frank", profile="email_reply")
        turn = NewTurn(
            question="Wie lösche ich einen Index? 🤔", standalone_question="Delete a Kendra index?",
            answer="", abstained=True, sources=(CITE,), model="", prompt_tokens=0,
            completion_tokens=0, timings={"retrieve_s": 0.25, "total_s": 0.5},
        )  # fmt: skip
        stored = memory.append_turn("frank", s.id, turn)
        got = memory.message("frank", stored.id)
        assert (got.question, got.standalone_question) == (turn.question, turn.standalone_question)
        assert got.abstained and got.answer == ""
        assert (got.citations, got.sources, got.timings) == ((), (CITE,), turn.timings)
        assert got.session_id == s.id and got.seq == 1 and got.rating is None
        assert memory.get_session("frank", s.id).profile == "email_reply"
        assert [t.seq for t in memory.turns("frank", s.id, last=5)] == [1]

    def test_users_never_see_each_others_data(self, memory: ConversationStore) -> None:
        s = memory.create_session("alice")
        t = memory.append_turn("alice", s.id, make_turn("secret question"))
        for attempt in (
            lambda: memory.get_session("mallory", s.id),
            lambda: memory.turns("mallory", s.id),
            lambda: memory.append_turn("mallory", s.id, make_turn("x")),
            lambda: memory.rename_session("mallory", s.id, "pwned"),
            lambda: memory.delete_session("mallory", s.id),
            lambda: memory.message("mallory", t.id),
            lambda: memory.set_feedback("mallory", t.id, 1),
            lambda: memory.get_session("alice", uuid.uuid4()),
            lambda: memory.message("alice", uuid.uuid4()),
        ):
            with pytest.raises(NotFoundError):
                attempt()
        assert memory.list_sessions("mallory") == []
        assert memory.get_session("alice", s.id).title == "secret question"
        assert memory.message("alice", t.id).rating is None  # mallory's feedback was not stored

    def test_deleting_a_session_deletes_its_messages(self, memory: ConversationStore) -> None:
        s = memory.create_session("gina")
        t = memory.append_turn("gina", s.id, make_turn("q"))
        memory.delete_session("gina", s.id)
        for attempt in (
            lambda: memory.message("gina", t.id),
            lambda: memory.set_feedback("gina", t.id, 1),
            lambda: memory.turns("gina", s.id),
            lambda: memory.append_turn("gina", s.id, make_turn("again")),
            lambda: memory.delete_session("gina", s.id),
        ):
            with pytest.raises(NotFoundError):
                attempt()
        assert memory.list_sessions("gina") == []

    def test_feedback_is_stored_and_replaced(self, memory: ConversationStore) -> None:
        s = memory.create_session("carol")
        t = memory.append_turn("carol", s.id, make_turn("q"))
        memory.set_feedback("carol", t.id, -1, "wrong version")
        fb = memory.set_feedback("carol", t.id, 1, "fixed now")
        assert (fb.rating, fb.comment) == (1, "fixed now")
        stored = memory.message("carol", t.id)
        assert (stored.rating, stored.feedback_comment) == (1, "fixed now")
        assert [(x.rating, x.feedback_comment) for x in memory.turns("carol", s.id)] == [(1, "fixed now")]
        with pytest.raises(AwsomeChatError):
            memory.set_feedback("carol", t.id, 5)
        with pytest.raises(AwsomeChatError):
            memory.rename_session("carol", s.id, "   ")

    def test_concurrent_turns_get_distinct_sequence_numbers(self, memory: ConversationStore) -> None:
        s = memory.create_session("dave")
        errors: list[BaseException] = []

        def add(i: int) -> None:
            try:
                memory.append_turn("dave", s.id, make_turn(f"q{i}"))
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=add, args=(i,)) for i in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert errors == []
        turns = memory.turns("dave", s.id)
        assert [t.seq for t in turns] == list(range(1, 9))
        assert sorted(t.question for t in turns) == sorted(f"q{i}" for i in range(8))
        assert memory.get_session("dave", s.id).message_count == 8
