"""Conversation memory in one DynamoDB table (the reference architecture's store), via boto3.

Single-table design (every key a string; ``docs/aws.md`` has the full picture):

============================  ===================  =========================================
item                          PK                   SK
============================  ===================  =========================================
session                       ``USER#<user id>``   ``SESSION#<session id>``
turn (question + answer)      ``SESSION#<id>``     ``TURN#<seq, 10 digits>``
message-id pointer            ``MESSAGE#<id>``     ``MESSAGE``
============================  ===================  =========================================

- A user's sessions, newest first, are one Query on the local secondary index ``by-updated``
  (PK, ``updated``), descending; paging walks it (DynamoDB has no OFFSET).
- A session's turns, in order, are one Query on ``SESSION#<id>`` (``TURN#`` keys sort by seq).
- A session is always read by the key ``USER#<caller>`` + ``SESSION#<id>``: another user's
  session id simply is not there, so it is NotFoundError exactly like an id that never existed.
  Messages are found by id through their pointer item, then read together with the caller's
  session item, so a message of another user (or of a deleted session) is NotFoundError too.
- Appending a turn is one transaction: the session's ``message_count`` goes from n to n + 1
  (conditioned on n), the turn ``TURN#n+1`` and its pointer are put. Concurrent turns of one
  session lose the condition and retry, so seq numbers are distinct and gapless.
- Feedback lives on the turn item (``rating``, ``comment``, ``feedback_at``).
- With ``ttl_days`` > 0 every write sets ``expires_at`` (epoch seconds, the table's TTL
  attribute): sessions expire ``ttl_days`` after their last activity, turns after they were
  written. DynamoDB deletes expired items lazily, so reads skip items past ``expires_at``.

Errors from botocore (throttling after botocore's retries, unreachable endpoint, access denied,
a deleted table) become :class:`~awsomechat.errors.StoreError`, which the API answers with 503
(:mod:`awsomechat.chat.dynamodb_table` makes every call and creates the table).
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
import uuid
from collections.abc import Callable
from typing import Any

from awsomechat.aws import client
from awsomechat.chat.dynamodb_table import (
    TTL_ATTRIBUTE,
    UPDATED_INDEX,
    ConversationTable,
    ExpectedError,
    Item,
)
from awsomechat.chat.titles import MAX_TITLE_CHARS, title_from
from awsomechat.chat.types import ChatSession, Citation, Feedback, NewTurn, Turn
from awsomechat.errors import AwsomeChatError, NotFoundError, RemoteStoreError
from awsomechat.settings import MemorySettings

__all__ = ["TTL_ATTRIBUTE", "UPDATED_INDEX", "DynamoDBConversationStore"]

_WHAT = "DynamoDB conversation memory"
_DYNAMODB = "dynamodb"
_APPEND_ATTEMPTS = 40
# Cancellation reasons of the append transaction that mean "lost a race" or "slow down": retry.
_RETRY_REASONS = frozenset(
    {None, "None", "ConditionalCheckFailed", "TransactionConflict", "ThrottlingError",
     "ProvisionedThroughputExceeded"}
)  # fmt: skip


def _iso(t: dt.datetime) -> str:
    # Fixed-width UTC: lexicographic order is time order (the `updated` index sorts strings).
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_time(s: str) -> dt.datetime:
    return dt.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)


def _s(item: Item, name: str, default: str = "") -> str:
    value = item.get(name)
    return str(value["S"]) if value and "S" in value else default


def _n(item: Item, name: str) -> int | None:
    value = item.get(name)
    return int(value["N"]) if value and "N" in value else None


def _user_pk(user_id: str) -> str:
    return f"USER#{user_id}"


def _session_sk(session_id: uuid.UUID) -> str:
    return f"SESSION#{session_id}"


def _session_pk(session_id: uuid.UUID) -> str:
    return f"SESSION#{session_id}"


def _turn_sk(seq: int) -> str:
    return f"TURN#{seq:010d}"


def _message_key(message_id: uuid.UUID) -> Item:
    return {"PK": {"S": f"MESSAGE#{message_id}"}, "SK": {"S": "MESSAGE"}}


def _session_key(user_id: str, session_id: uuid.UUID) -> Item:
    return {"PK": {"S": _user_pk(user_id)}, "SK": {"S": _session_sk(session_id)}}


def _turn_key(session_id: uuid.UUID, seq: int) -> Item:
    return {"PK": {"S": _session_pk(session_id)}, "SK": {"S": _turn_sk(seq)}}


def _session_of(item: Item) -> ChatSession:
    return ChatSession(
        id=uuid.UUID(_s(item, "id")),
        user_id=_s(item, "user_id"),
        title=_s(item, "title"),
        profile=_s(item, "profile", "chat"),
        created_at=_parse_time(_s(item, "created_at")),
        updated_at=_parse_time(_s(item, "updated")),
        message_count=_n(item, "message_count") or 0,
    )


def _turn_of(item: Item) -> Turn:
    return Turn(
        id=uuid.UUID(_s(item, "id")),
        session_id=uuid.UUID(_s(item, "session_id")),
        seq=_n(item, "seq") or 0,
        question=_s(item, "question"),
        standalone_question=_s(item, "standalone_question"),
        answer=_s(item, "answer"),
        abstained=bool(item.get("abstained", {}).get("BOOL", False)),
        citations=tuple(Citation.from_json(c) for c in json.loads(_s(item, "citations", "[]"))),
        sources=tuple(Citation.from_json(c) for c in json.loads(_s(item, "sources", "[]"))),
        model=_s(item, "model"),
        prompt_tokens=_n(item, "prompt_tokens") or 0,
        completion_tokens=_n(item, "completion_tokens") or 0,
        timings={k: float(v) for k, v in json.loads(_s(item, "timings", "{}")).items()},
        created_at=_parse_time(_s(item, "created_at")),
        rating=_n(item, "rating"),
        feedback_comment=_s(item, "comment"),
    )


class DynamoDBConversationStore:
    """The ``ConversationStore`` seam on one DynamoDB table (created, with TTL, when missing).

    ``client`` is a boto3 DynamoDB client (``awsomechat.aws.client("dynamodb", ...)`` builds one
    from the standard AWS environment). Nothing is sent until the first call, which checks the
    table (DescribeTable) and creates it when missing. ``clock`` exists for tests of expiry.
    """

    def __init__(
        self,
        client: Any,
        *,
        table: str,
        ttl_days: int = 0,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self._table = ConversationTable(client, table, ttl_days=ttl_days)
        self.table = table
        self.ttl_days = ttl_days
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))

    @classmethod
    def from_settings(cls, settings: MemorySettings) -> DynamoDBConversationStore:
        """A store on ``settings.table`` with a client from the standard AWS environment.

        Raises:
            MissingExtraError: boto3 is not installed (the ``aws`` extra).
        """
        return cls(client(_DYNAMODB, what=_WHAT), table=settings.table, ttl_days=settings.ttl_days)

    # ------------------------------------------------------------------ sessions
    def create_session(self, user_id: str, *, title: str = "", profile: str = "chat") -> ChatSession:
        now = self._clock()
        sid = uuid.uuid4()
        item: Item = {
            **_session_key(user_id, sid),
            "type": {"S": "session"},
            "id": {"S": str(sid)},
            "user_id": {"S": user_id},
            "title": {"S": title_from(title)},
            "profile": {"S": profile},
            "created_at": {"S": _iso(now)},
            "updated": {"S": _iso(now)},
            "message_count": {"N": "0"},
            **self._expiry(now),
        }
        self._table.call("put_item", Item=item, ConditionExpression="attribute_not_exists(PK)")
        return _session_of(item)

    def get_session(self, user_id: str, session_id: uuid.UUID) -> ChatSession:
        return _session_of(self._session_item(user_id, session_id))

    def list_sessions(self, user_id: str, *, limit: int = 50, offset: int = 0) -> list[ChatSession]:
        """The user's sessions, most recently active first (one Query on ``by-updated``)."""
        if limit <= 0:
            return []
        wanted = offset + limit
        found: list[ChatSession] = []
        for item in self._table.query(
            IndexName=UPDATED_INDEX,
            KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues={":pk": {"S": _user_pk(user_id)}},
            ScanIndexForward=False,
            page_size=min(wanted, 1000),
        ):
            if not self._expired(item):
                found.append(_session_of(item))
                if len(found) >= wanted:
                    break
        return found[offset:wanted]

    def rename_session(self, user_id: str, session_id: uuid.UUID, title: str) -> ChatSession:
        title = " ".join(title.split())
        if not title:
            raise AwsomeChatError("a session title cannot be empty")
        now = self._clock()
        values: Item = {":t": {"S": title[:MAX_TITLE_CHARS]}, ":u": {"S": _iso(now)}}
        update = "SET title = :t, updated = :u"
        if self.ttl_days:
            values[":e"] = self._expiry(now)[TTL_ATTRIBUTE]
            update += f", {TTL_ATTRIBUTE} = :e"
        try:
            resp = self._table.call(
                "update_item",
                expected=("ConditionalCheckFailedException",),
                Key=_session_key(user_id, session_id),
                UpdateExpression=update,
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ExpectedError:
            raise NotFoundError(f"no session {session_id}") from None
        return _session_of(resp["Attributes"])

    def delete_session(self, user_id: str, session_id: uuid.UUID) -> None:
        """Delete the session, then its turns and their pointers (batched)."""
        try:
            self._table.call(
                "delete_item",
                expected=("ConditionalCheckFailedException",),
                Key=_session_key(user_id, session_id),
                ConditionExpression="attribute_exists(PK)",
            )
        except ExpectedError:
            raise NotFoundError(f"no session {session_id}") from None
        # The session item went first: from now on nothing below is readable (reads need it).
        keys: list[Item] = []
        for item in self._table.query(
            KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues={":pk": {"S": _session_pk(session_id)}},
            ProjectionExpression="PK, SK, id",
        ):
            keys.append({"PK": item["PK"], "SK": item["SK"]})
            keys.append(_message_key(uuid.UUID(_s(item, "id"))))
        self._table.batch_delete(keys)

    # --------------------------------------------------------------------- turns
    def turns(self, user_id: str, session_id: uuid.UUID, *, last: int | None = None) -> list[Turn]:
        """The session's turns in order (the last ``last`` of them when given)."""
        self._session_item(user_id, session_id)
        if last is not None and last <= 0:
            return []
        out: list[Turn] = []
        for item in self._table.query(
            KeyConditionExpression="PK = :pk AND begins_with(SK, :t)",
            ExpressionAttributeValues={":pk": {"S": _session_pk(session_id)}, ":t": {"S": "TURN#"}},
            ScanIndexForward=last is None,
            page_size=last or 200,
        ):
            if not self._expired(item):
                out.append(_turn_of(item))
                if last is not None and len(out) >= last:
                    break
        return out if last is None else out[::-1]

    def append_turn(self, user_id: str, session_id: uuid.UUID, turn: NewTurn) -> Turn:
        """Store a finished turn; the first one also titles an untitled session.

        One transaction moves ``message_count`` from n to n + 1 and puts turn n + 1 with its
        pointer; a concurrent turn makes the condition fail and this one retries.
        """
        mid = uuid.uuid4()
        for attempt in range(_APPEND_ATTEMPTS):
            session = self._session_item(user_id, session_id)
            count = _n(session, "message_count") or 0
            seq = count + 1
            now = self._clock()
            title = _s(session, "title") or title_from(turn.question)
            expiry = self._expiry(now)
            item: Item = {
                **_turn_key(session_id, seq),
                "type": {"S": "turn"},
                "id": {"S": str(mid)},
                "session_id": {"S": str(session_id)},
                "user_id": {"S": user_id},
                "seq": {"N": str(seq)},
                "question": {"S": turn.question},
                "standalone_question": {"S": turn.standalone_question},
                "answer": {"S": turn.answer},
                "abstained": {"BOOL": turn.abstained},
                "citations": {"S": json.dumps([c.to_json() for c in turn.citations])},
                "sources": {"S": json.dumps([c.to_json() for c in turn.sources])},
                "model": {"S": turn.model},
                "prompt_tokens": {"N": str(turn.prompt_tokens)},
                "completion_tokens": {"N": str(turn.completion_tokens)},
                "timings": {"S": json.dumps(turn.timings)},
                "created_at": {"S": _iso(now)},
                **expiry,
            }
            pointer: Item = {
                **_message_key(mid),
                "type": {"S": "message"},
                "user_id": {"S": user_id},
                "session_id": {"S": str(session_id)},
                "seq": {"N": str(seq)},
                **expiry,
            }
            values: Item = {":n": {"N": str(count)}, ":seq": {"N": str(seq)}, ":u": {"S": _iso(now)}}
            values[":t"] = {"S": title}
            update = "SET message_count = :seq, updated = :u, title = :t"
            if expiry:
                values[":e"] = expiry[TTL_ATTRIBUTE]
                update += f", {TTL_ATTRIBUTE} = :e"
            try:
                self._table.call(
                    "transact_write_items",
                    expected=("TransactionCanceledException",),
                    TransactItems=[
                        {
                            "Update": {
                                "TableName": self.table,
                                "Key": _session_key(user_id, session_id),
                                "UpdateExpression": update,
                                "ConditionExpression": "message_count = :n",
                                "ExpressionAttributeValues": values,
                            }
                        },
                        {
                            "Put": {
                                "TableName": self.table,
                                "Item": item,
                                "ConditionExpression": "attribute_not_exists(PK)",
                            }
                        },
                        {
                            "Put": {
                                "TableName": self.table,
                                "Item": pointer,
                                "ConditionExpression": "attribute_not_exists(PK)",
                            }
                        },
                    ],
                )
            except ExpectedError as exc:
                response = getattr(exc.exc, "response", {})
                reasons = {r.get("Code") for r in response.get("CancellationReasons", [])}
                if not reasons <= _RETRY_REASONS:
                    raise self._table.store_error(exc.exc) from exc.exc
                # Another turn (or a delete) won the race: read the session again and retry.
                time.sleep(random.uniform(0.002, 0.01 * min(attempt + 1, 10)))
                continue
            return _turn_of(item)
        raise RemoteStoreError(
            f"{_WHAT}: session {session_id} is too busy (concurrent turns kept conflicting)",
            hint="try again",
        )

    def message(self, user_id: str, message_id: uuid.UUID) -> Turn:
        """One turn by id: its pointer, then the turn with the caller's session in one batch."""
        pointer = self._table.get(_message_key(message_id))
        if pointer is None or _s(pointer, "user_id") != user_id or self._expired(pointer):
            raise NotFoundError(f"no message {message_id}")
        session_id = uuid.UUID(_s(pointer, "session_id"))
        turn_key = _turn_key(session_id, _n(pointer, "seq") or 0)
        resp = self._table.call(
            "batch_get_item",
            RequestItems={
                self.table: {"Keys": [turn_key, _session_key(user_id, session_id)], "ConsistentRead": True}
            },
        )
        items = resp.get("Responses", {}).get(self.table, [])
        if resp.get("UnprocessedKeys"):  # throttled partially: read them one by one
            items = [i for k in (turn_key, _session_key(user_id, session_id)) if (i := self._table.get(k))]
        turn = next((i for i in items if _s(i, "type") == "turn"), None)
        session = next((i for i in items if _s(i, "type") == "session"), None)
        if turn is None or session is None or self._expired(turn) or self._expired(session):
            raise NotFoundError(f"no message {message_id}")
        return _turn_of(turn)

    def set_feedback(self, user_id: str, message_id: uuid.UUID, rating: int, comment: str = "") -> Feedback:
        """Rate an answer (+1/-1); rating again replaces the earlier feedback."""
        if rating not in (-1, 1):
            raise AwsomeChatError(f"rating must be 1 or -1, not {rating}")
        turn = self.message(user_id, message_id)  # NotFound for others' messages
        now = self._clock()
        comment = comment[:4000]
        try:
            self._table.call(
                "update_item",
                expected=("ConditionalCheckFailedException",),
                Key=_turn_key(turn.session_id, turn.seq),
                UpdateExpression="SET rating = :r, #c = :c, feedback_at = :f",
                ConditionExpression="attribute_exists(PK) AND user_id = :u AND id = :id",
                ExpressionAttributeNames={"#c": "comment"},
                ExpressionAttributeValues={
                    ":r": {"N": str(rating)},
                    ":c": {"S": comment},
                    ":f": {"S": _iso(now)},
                    ":u": {"S": user_id},
                    ":id": {"S": str(message_id)},
                },
            )
        except ExpectedError:  # deleted meanwhile
            raise NotFoundError(f"no message {message_id}") from None
        return Feedback(message_id, user_id, rating, comment, now)

    # ----------------------------------------------------------------- helpers
    def _expiry(self, now: dt.datetime) -> Item:
        if not self.ttl_days:
            return {}
        return {TTL_ATTRIBUTE: {"N": str(int(now.timestamp()) + self.ttl_days * 86_400)}}

    def _expired(self, item: Item) -> bool:
        expires = _n(item, TTL_ATTRIBUTE)
        return expires is not None and expires <= self._clock().timestamp()

    def _session_item(self, user_id: str, session_id: uuid.UUID) -> Item:
        item = self._table.get(_session_key(user_id, session_id))
        if item is None or self._expired(item):
            raise NotFoundError(f"no session {session_id}")
        return item
