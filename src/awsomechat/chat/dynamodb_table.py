"""The DynamoDB table behind the conversation memory: its layout, creation and every call to it.

``ConversationTable`` checks the table once (DescribeTable), creates it when missing (keys
``PK``/``SK``, the local index ``by-updated``, on-demand capacity, TTL on ``expires_at``),
pages through Query results, retries unprocessed batch writes and turns botocore's errors into
:class:`~awsomechat.errors.StoreError` (the API's 503). The item layout itself lives in
:mod:`awsomechat.chat.memory_dynamodb`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

from awsomechat.aws import describe_error, error_code, is_aws_error
from awsomechat.errors import RemoteStoreError, StoreError

__all__ = ["TTL_ATTRIBUTE", "UPDATED_INDEX", "ConversationTable", "ExpectedError", "Item"]

log = logging.getLogger(__name__)

UPDATED_INDEX = "by-updated"
TTL_ATTRIBUTE = "expires_at"
_WHAT = "DynamoDB conversation memory"
_TABLE_GONE = "ResourceNotFoundException"
_BATCH_ATTEMPTS = 8

Item = dict[str, dict[str, Any]]


class ExpectedError(Exception):
    """An AWS error code the caller handles itself (a failed condition, a missing table)."""

    def __init__(self, code: str, exc: BaseException) -> None:
        super().__init__(code)
        self.code = code
        self.exc = exc


class ConversationTable:
    """One conversation table reached through a boto3 DynamoDB ``client``."""

    def __init__(self, client: Any, name: str, *, ttl_days: int = 0) -> None:
        self._client = client
        self.name = name
        self.ttl_days = ttl_days
        self._ready = False
        self._ready_lock = threading.Lock()

    def ensure(self) -> None:
        """Check the table (once per store); create it with its index and TTL when missing."""
        if self._ready:
            return
        with self._ready_lock:
            if self._ready:
                return
            try:
                desc = self.raw("describe_table", TableName=self.name)["Table"]
            except ExpectedError:
                desc = self._create_table()
            self._check_layout(desc)
            if self.ttl_days:
                self._enable_ttl(only_if_disabled=True)
            self._ready = True

    def _create_table(self) -> dict[str, Any]:
        log.warning("creating DynamoDB table %s for conversation memory", self.name)
        try:
            self.raw(
                "create_table",
                TableName=self.name,
                BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=[
                    {"AttributeName": "PK", "AttributeType": "S"},
                    {"AttributeName": "SK", "AttributeType": "S"},
                    {"AttributeName": "updated", "AttributeType": "S"},
                ],
                KeySchema=[
                    {"AttributeName": "PK", "KeyType": "HASH"},
                    {"AttributeName": "SK", "KeyType": "RANGE"},
                ],
                LocalSecondaryIndexes=[
                    {
                        "IndexName": UPDATED_INDEX,
                        "KeySchema": [
                            {"AttributeName": "PK", "KeyType": "HASH"},
                            {"AttributeName": "updated", "KeyType": "RANGE"},
                        ],
                        "Projection": {"ProjectionType": "ALL"},
                    }
                ],
                Tags=[{"Key": "application", "Value": "awsomechat"}],
            )
            created = True
        except ExpectedError as exc:
            if exc.code != "ResourceInUseException":  # another worker is creating it: wait too
                raise self.store_error(exc.exc) from exc.exc
            created = False
        self._wait_active()
        if created:
            # TTL on from the start: turning ttl_days on later then needs no table change.
            self._enable_ttl(only_if_disabled=False)
        return dict(self.raw("describe_table", TableName=self.name)["Table"])

    def _wait_active(self, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                status = self.raw("describe_table", TableName=self.name)["Table"]["TableStatus"]
            except ExpectedError:
                status = "CREATING"  # not visible yet right after CreateTable
            if status == "ACTIVE":
                return
            if time.monotonic() > deadline:
                raise RemoteStoreError(
                    f"{_WHAT}: table {self.name} is still {status} after {timeout_s:.0f} s"
                )
            time.sleep(0.5)

    def _enable_ttl(self, *, only_if_disabled: bool) -> None:
        if only_if_disabled:
            desc = self.call("describe_time_to_live", ready=False)
            ttl = desc.get("TimeToLiveDescription", {})
            if ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
                if ttl.get("AttributeName") != TTL_ATTRIBUTE:
                    log.warning(
                        "table %s expires items by %r, not %r: memory.ttl_days has no effect",
                        self.name,
                        ttl.get("AttributeName"),
                        TTL_ATTRIBUTE,
                    )
                return
        self.call(
            "update_time_to_live",
            ready=False,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
        )

    def _check_layout(self, desc: dict[str, Any]) -> None:
        keys = {k["AttributeName"]: k["KeyType"] for k in desc.get("KeySchema", [])}
        indexes = {i["IndexName"] for i in desc.get("LocalSecondaryIndexes", []) or []}
        if keys != {"PK": "HASH", "SK": "RANGE"} or UPDATED_INDEX not in indexes:
            raise RemoteStoreError(
                f"{_WHAT}: table {self.name} exists but is not laid out for conversations"
                f" (needs keys PK/SK and the local index {UPDATED_INDEX})",
                hint="name another table in AWSOMECHAT_MEMORY__TABLE, or see docs/aws.md",
            )

    def get(self, key: Item) -> Item | None:
        item = self.call("get_item", Key=key, ConsistentRead=True).get("Item")
        return dict(item) if item else None

    def query(self, *, page_size: int | None = None, **kwargs: Any) -> Iterator[Item]:
        """Every item of a Query, page after page (strongly consistent: the index is local)."""
        start: Item | None = None
        while True:
            extra: dict[str, Any] = {"ExclusiveStartKey": start} if start else {}
            if page_size:
                extra["Limit"] = page_size
            resp = self.call("query", ConsistentRead=True, **kwargs, **extra)
            yield from resp.get("Items", [])
            start = resp.get("LastEvaluatedKey")
            if not start:
                return

    def batch_delete(self, keys: list[Item]) -> None:
        for i in range(0, len(keys), 25):
            requests = [{"DeleteRequest": {"Key": k}} for k in keys[i : i + 25]]
            for attempt in range(_BATCH_ATTEMPTS):
                resp = self.call("batch_write_item", RequestItems={self.name: requests})
                requests = resp.get("UnprocessedItems", {}).get(self.name, [])
                if not requests:
                    break
                time.sleep(min(0.05 * 2**attempt, 2.0))
            if requests:
                raise RemoteStoreError(f"{_WHAT}: could not delete {len(requests)} items (throttled)")

    def call(
        self, op: str, *, expected: tuple[str, ...] = (), ready: bool = True, **kwargs: Any
    ) -> dict[str, Any]:
        """Run one DynamoDB call on the table; AWS errors become StoreError, except ``expected``
        codes, raised as ``ExpectedError`` for the caller to handle. A table deleted under a running
        service is created again and the call retried once (the conversations in it are gone)."""
        if op not in ("transact_write_items", "batch_get_item", "batch_write_item"):
            kwargs["TableName"] = self.name
        if not ready:
            return dict(self.raw(op, expected=expected, **kwargs))
        self.ensure()
        try:
            return dict(self.raw(op, expected=(*expected, _TABLE_GONE), **kwargs))
        except ExpectedError as exc:
            if exc.code != _TABLE_GONE or _TABLE_GONE in expected:
                raise
        log.warning("DynamoDB table %s disappeared; creating it again", self.name)
        self._ready = False
        self.ensure()
        return dict(self.raw(op, expected=expected, **kwargs))

    def raw(self, op: str, *, expected: tuple[str, ...] = (_TABLE_GONE,), **kwargs: Any) -> Any:
        try:
            return getattr(self._client, op)(**kwargs)
        except Exception as exc:
            if not is_aws_error(exc):
                raise
            code = error_code(exc)
            if code and code in expected:
                raise ExpectedError(code, exc) from exc
            if code == _TABLE_GONE:
                self._ready = False  # deleted under us: the next call checks (and creates) again
            raise self.store_error(exc) from exc

    def store_error(self, exc: BaseException) -> StoreError:
        message, hint = describe_error(exc, f"{_WHAT} (table {self.name})")
        return RemoteStoreError(message, hint=hint)
