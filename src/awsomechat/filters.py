"""Parsing metadata filters from text (CLI ``--filter`` and API query strings).

Grammar, one condition per expression, conditions ANDed::

    field=value        field!=value       field in a,b,c     field?   (attribute exists)
    field>=value       field>value        field<=value       field<value

``field`` is ``source``, ``uri``, ``title``, ``format``, ``created_at``, ``updated_at`` or an
attribute key (``attr.<key>`` to name an attribute that shadows one of those). Values are typed
like ``--attr`` values: ``2020`` is a number, ``true`` a boolean, anything else a string.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from awsomechat.errors import FilterError
from awsomechat.text.storable import unstorable_reason
from awsomechat.types import Condition, FilterOp

DOCUMENT_FIELDS = frozenset({"source", "uri", "title", "format", "created_at", "updated_at"})
DATE_FIELDS = frozenset({"created_at", "updated_at"})
_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-:]{0,63}$")
_EXPR_RE = re.compile(r"^\s*(?P<field>[^\s=!<>?]+)\s*(?P<op>!=|>=|<=|=|>|<|\s+in\s+|\?)\s*(?P<value>.*)$")
_OPS: dict[str, FilterOp] = {"=": "eq", "!=": "ne", ">=": "gte", "<=": "lte", ">": "gt", "<": "lt"}


def parse_scalar(text: str) -> str | int | float | bool:
    """``2020`` → 2020, ``1.5`` → 1.5, ``true`` → True, else the stripped string."""
    text = text.strip()
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if re.fullmatch(r"-?\d{1,15}", text):
        return int(text)
    if re.fullmatch(r"-?\d+\.\d+", text):
        return float(text)
    return text


def parse_attribute(expr: str) -> tuple[str, Any]:
    """Parse ``key=value`` given to ``--attr``."""
    if "=" not in expr:
        raise FilterError(f"attribute {expr!r} is not key=value", hint="e.g. --attr team=platform")
    key, value = expr.split("=", 1)
    key = key.strip()
    reason = unstorable_reason(value)
    if reason:
        raise FilterError(f"attribute {key!r} {reason}")
    if not _KEY_RE.match(key):
        raise FilterError(f"attribute name {key!r} is invalid", hint="use letters, digits, _ . - :")
    return key, parse_scalar(value)


def normalise_field(field: str) -> str:
    """``attr.team`` / ``attributes.team`` / ``team`` → ``attributes.team``; document fields stay."""
    if field in DOCUMENT_FIELDS:
        return field
    for prefix in ("attributes.", "attr."):
        if field.startswith(prefix):
            field = field[len(prefix) :]
            break
    if not _KEY_RE.match(field):
        raise FilterError(f"filter field {field!r} is invalid", hint="use letters, digits, _ . - :")
    return f"attributes.{field}"


def parse_filter(expr: str) -> Condition:
    """Parse one filter expression into a :class:`Condition`."""
    m = _EXPR_RE.match(expr)
    if not m:
        raise FilterError(
            f"cannot parse filter {expr!r}",
            hint="use field=value, field!=value, field>=value, 'field in a,b' or field?",
        )
    field = normalise_field(m.group("field"))
    raw_op, raw_value = m.group("op").strip(), m.group("value")
    if raw_op == "?":
        if raw_value.strip():
            raise FilterError(f"'?' takes no value in filter {expr!r}")
        return make_condition(field, "exists", None)
    if raw_op == "in":
        values = [parse_scalar(v) for v in raw_value.split(",") if v.strip()]
        return make_condition(field, "in", values)
    return make_condition(field, _OPS[raw_op], parse_scalar(raw_value))


def make_condition(field: str, op: FilterOp, value: Any) -> Condition:
    """Validate and build a condition (also used for structured API filters)."""
    field = normalise_field(field)
    if op not in ("eq", "ne", "in", "gt", "gte", "lt", "lte", "exists"):
        raise FilterError(f"unknown filter operator {op!r}")
    if op == "in":
        if not isinstance(value, list | tuple) or not value:
            raise FilterError(f"'in' filter on {field} needs a non-empty list of values")
        _check_scalars(field, value)
        value = tuple(value)
    elif op != "exists":
        _check_scalars(field, [value])
    if field in DATE_FIELDS and op != "exists":
        value = tuple(_as_datetime(field, v) for v in value) if op == "in" else _as_datetime(field, value)
    elif field in DOCUMENT_FIELDS and op != "exists":
        # Text columns: compare as text whatever type the value was parsed as.
        value = tuple(str(v) for v in value) if op == "in" else str(value)
    if op in ("gt", "gte", "lt", "lte") and isinstance(value, bool):
        raise FilterError(f"range filter on {field} needs a number, date or string, not a boolean")
    return Condition(field=field, op=op, value=value)


def _check_scalars(field: str, values: Any) -> None:
    for v in values:
        if v is None or not isinstance(v, str | int | float | bool):
            raise FilterError(f"filter value for {field} must be a string, number or boolean: {v!r}")
        reason = unstorable_reason(v) if isinstance(v, str) else None
        if reason:
            raise FilterError(f"filter value for {field} {reason}")
        if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
            raise FilterError(f"filter value for {field} must be a finite number")


def _as_datetime(field: str, value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    try:
        parsed = dt.datetime.fromisoformat(str(value))
    except ValueError:
        raise FilterError(
            f"{field} filter needs an ISO date or time, got {value!r}", hint="e.g. updated_at>=2024-01-31"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def describe(cond: Condition) -> str:
    """Human-readable form of a condition (for messages)."""
    return f"{cond.field} {cond.op} {json.dumps(cond.value, default=str)}"
