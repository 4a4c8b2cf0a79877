"""Conversation memory in PostgreSQL: sessions, turns and feedback, always scoped to one user.

Every statement filters by ``user_id``: asking for another user's session, message or feedback
is indistinguishable from asking for one that does not exist (NotFoundError), so ids cannot be
probed.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import psycopg
from psycopg.rows import dict_row

from awsomechat.chat.titles import MAX_TITLE_CHARS, title_from
from awsomechat.chat.types import ChatSession, Citation, Feedback, NewTurn, Turn
from awsomechat.errors import AwsomeChatError, NotFoundError
from awsomechat.store.database import Database

_SESSION_SELECT = (
    "SELECT s.*, (SELECT count(*) FROM chat_messages m WHERE m.session_id = s.id) AS message_count"
    " FROM chat_sessions s"
)


def _session(row: dict[str, Any]) -> ChatSession:
    return ChatSession(
        id=row["id"],
        user_id=row["user_id"],
        title=row["title"],
        profile=row["profile"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        message_count=int(row.get("message_count") or 0),
    )


def _turn(row: dict[str, Any]) -> Turn:
    return Turn(
        id=row["id"],
        session_id=row["session_id"],
        seq=row["seq"],
        question=row["question"],
        standalone_question=row["standalone_question"],
        answer=row["answer"],
        abstained=row["abstained"],
        citations=tuple(Citation.from_json(c) for c in row["citations"]),
        sources=tuple(Citation.from_json(c) for c in row["sources"]),
        model=row["model"],
        prompt_tokens=row["prompt_tokens"],
        completion_tokens=row["completion_tokens"],
        timings=dict(row["timings"]),
        created_at=row["created_at"],
        rating=row.get("rating"),
        feedback_comment=row.get("comment") or "",
    )


class PgConversationStore:
    """The ``ConversationStore`` seam on the shared PostgreSQL database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def create_session(self, user_id: str, *, title: str = "", profile: str = "chat") -> ChatSession:
        sid = uuid.uuid4()
        with self._db.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                "INSERT INTO chat_sessions (id, user_id, title, profile) VALUES (%s, %s, %s, %s)"
                " RETURNING id, user_id, title, profile, created_at, updated_at",
                (sid, user_id, title_from(title), profile),
            )
            row = cur.fetchone()
        assert row is not None
        return _session(row)

    def get_session(self, user_id: str, session_id: uuid.UUID) -> ChatSession:
        with self._db.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                _SESSION_SELECT + " WHERE s.id = %s AND s.user_id = %s",
                (session_id, user_id),
            )
            row = cur.fetchone()
        if row is None:
            raise NotFoundError(f"no session {session_id}")
        return _session(row)

    def list_sessions(self, user_id: str, *, limit: int = 50, offset: int = 0) -> list[ChatSession]:
        with self._db.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                _SESSION_SELECT + " WHERE s.user_id = %s ORDER BY s.updated_at DESC, s.id LIMIT %s OFFSET %s",
                (user_id, limit, offset),
            )
            return [_session(r) for r in cur.fetchall()]

    def rename_session(self, user_id: str, session_id: uuid.UUID, title: str) -> ChatSession:
        title = " ".join(title.split())
        if not title:
            raise AwsomeChatError("a session title cannot be empty")
        with self._db.pool.connection() as conn:
            cur = conn.execute(
                "UPDATE chat_sessions SET title = %s, updated_at = now() WHERE id = %s AND user_id = %s",
                (title[:MAX_TITLE_CHARS], session_id, user_id),
            )
            if cur.rowcount == 0:
                raise NotFoundError(f"no session {session_id}")
        return self.get_session(user_id, session_id)

    def delete_session(self, user_id: str, session_id: uuid.UUID) -> None:
        with self._db.pool.connection() as conn:
            cur = conn.execute(
                "DELETE FROM chat_sessions WHERE id = %s AND user_id = %s", (session_id, user_id)
            )
            if cur.rowcount == 0:
                raise NotFoundError(f"no session {session_id}")

    def turns(self, user_id: str, session_id: uuid.UUID, *, last: int | None = None) -> list[Turn]:
        """The session's turns in order (the last ``last`` of them when given)."""
        self.get_session(user_id, session_id)
        with self._db.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                "SELECT * FROM (SELECT m.*, f.rating, f.comment FROM chat_messages m"
                " LEFT JOIN chat_feedback f ON f.message_id = m.id"
                " WHERE m.session_id = %s AND m.user_id = %s ORDER BY m.seq DESC LIMIT %s) t ORDER BY seq",
                (session_id, user_id, last if last is not None else 1_000_000),
            )
            return [_turn(r) for r in cur.fetchall()]

    def append_turn(self, user_id: str, session_id: uuid.UUID, turn: NewTurn) -> Turn:
        """Store a finished turn; the first one also titles an untitled session."""
        mid = uuid.uuid4()
        with self._db.pool.connection() as conn, conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            # Lock the session row: concurrent turns of one session get distinct, ordered seq numbers.
            cur.execute(
                "SELECT title FROM chat_sessions WHERE id = %s AND user_id = %s FOR UPDATE",
                (session_id, user_id),
            )
            session = cur.fetchone()
            if session is None:
                raise NotFoundError(f"no session {session_id}")
            cur.execute(
                "INSERT INTO chat_messages (id, session_id, user_id, seq, question, standalone_question,"
                " answer, abstained, citations, sources, model, prompt_tokens, completion_tokens, timings)"
                " SELECT %s, %s, %s, coalesce(max(seq), 0) + 1, %s, %s, %s, %s, %s::jsonb, %s::jsonb, %s,"
                " %s, %s, %s::jsonb FROM chat_messages WHERE session_id = %s RETURNING *",
                (
                    mid, session_id, user_id, turn.question, turn.standalone_question, turn.answer,
                    turn.abstained,
                    json.dumps([c.to_json() for c in turn.citations]),
                    json.dumps([c.to_json() for c in turn.sources]),
                    turn.model, turn.prompt_tokens, turn.completion_tokens, json.dumps(turn.timings),
                    session_id,
                ),
            )  # fmt: skip
            row = cur.fetchone()
            new_title = session["title"] or title_from(turn.question)
            cur.execute(
                "UPDATE chat_sessions SET updated_at = now(), title = %s WHERE id = %s",
                (new_title, session_id),
            )
        assert row is not None
        return _turn(row)

    def message(self, user_id: str, message_id: uuid.UUID) -> Turn:
        with self._db.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                "SELECT m.*, f.rating, f.comment FROM chat_messages m"
                " LEFT JOIN chat_feedback f ON f.message_id = m.id WHERE m.id = %s AND m.user_id = %s",
                (message_id, user_id),
            )
            row = cur.fetchone()
        if row is None:
            raise NotFoundError(f"no message {message_id}")
        return _turn(row)

    def set_feedback(self, user_id: str, message_id: uuid.UUID, rating: int, comment: str = "") -> Feedback:
        """Rate an answer (+1/-1); rating again replaces the earlier feedback."""
        if rating not in (-1, 1):
            raise AwsomeChatError(f"rating must be 1 or -1, not {rating}")
        self.message(user_id, message_id)  # NotFound for others' messages
        with self._db.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            try:
                cur.execute(
                    "INSERT INTO chat_feedback (message_id, user_id, rating, comment) VALUES (%s, %s, %s, %s)"
                    " ON CONFLICT (message_id) DO UPDATE SET rating = excluded.rating,"
                    " comment = excluded.comment, updated_at = now() RETURNING *",
                    (message_id, user_id, rating, comment[:4000]),
                )
            except psycopg.errors.ForeignKeyViolation as exc:  # deleted meanwhile
                raise NotFoundError(f"no message {message_id}") from exc
            row = cur.fetchone()
        assert row is not None
        return Feedback(row["message_id"], row["user_id"], row["rating"], row["comment"], row["updated_at"])
