"""Our filters and metadata in Amazon Kendra's terms, both ways.

The Kendra retriever turns our conditions into an ``AttributeFilter`` and Kendra's document
attributes into ours; the Kendra-compatible endpoint (``/kendra``) does the reverse. One table of
field names serves both, so a filter survives the round trip through either.

Kendra's reserved attributes stand for our document fields: ``_source_uri`` (uri),
``_document_title`` (title), ``_data_source_id`` (source), ``_file_type`` (format),
``_created_at`` / ``_last_updated_at`` (dates). Every other key is an attribute of ours.

Kendra has no existence test and no negation of a range; our conditions are ANDed. A condition
or a filter one side cannot express raises ``FilterError`` naming it, never a silently wider search.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from awsomechat.errors import FilterError
from awsomechat.filters import make_condition
from awsomechat.types import Condition, FilterOp

# our document field -> Kendra reserved attribute
FIELD_TO_KENDRA = {
    "uri": "_source_uri",
    "title": "_document_title",
    "source": "_data_source_id",
    "format": "_file_type",
    "created_at": "_created_at",
    "updated_at": "_last_updated_at",
}
KENDRA_TO_FIELD = {v: k for k, v in FIELD_TO_KENDRA.items()}
_RANGE = {"gt": "GreaterThan", "gte": "GreaterThanOrEquals", "lt": "LessThan", "lte": "LessThanOrEquals"}
_RANGE_BACK: dict[str, FilterOp] = {v: k for k, v in _RANGE.items()}  # type: ignore[misc]
_DATE_FIELDS = ("created_at", "updated_at")


# ------------------------------------------------------------------- values


def to_kendra_value(value: Any) -> dict[str, Any]:
    """A ``DocumentAttributeValue``: strings, whole numbers (LongValue), dates, string lists."""
    if isinstance(value, bool):  # Kendra has no boolean: the lab's indexes store "true"/"false"
        return {"StringValue": "true" if value else "false"}
    if isinstance(value, int):
        return {"LongValue": value}
    if isinstance(value, dt.datetime):
        return {"DateValue": value}
    if isinstance(value, dt.date):
        return {"DateValue": dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)}
    if isinstance(value, list | tuple):
        return {"StringListValue": [str(v) for v in value]}
    if isinstance(value, float):
        if value.is_integer():
            return {"LongValue": int(value)}
        raise FilterError(f"Kendra attributes hold no fractional numbers ({value})")
    return {"StringValue": str(value)}


def from_kendra_value(value: Mapping[str, Any]) -> Any:
    """The plain value of a ``DocumentAttributeValue`` (dates as timezone-aware datetimes)."""
    if "StringValue" in value:
        return value["StringValue"]
    if "LongValue" in value:
        return int(value["LongValue"])
    if "StringListValue" in value:
        return list(value["StringListValue"])
    if "DateValue" in value:
        return _as_datetime(value["DateValue"])
    raise FilterError(
        f"a DocumentAttributeValue needs one of String/Long/StringList/DateValue: {dict(value)}"
    )


def _as_datetime(raw: Any) -> dt.datetime:
    """boto3 parses DateValue into a datetime; on the wire (JSON 1.1) it is epoch seconds."""
    if isinstance(raw, dt.datetime):
        return raw if raw.tzinfo else raw.replace(tzinfo=dt.UTC)
    if isinstance(raw, int | float):
        return dt.datetime.fromtimestamp(raw, tz=dt.UTC)
    if isinstance(raw, str):
        return dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    raise FilterError(f"DateValue {raw!r} is not a date")


# ------------------------------------------------------------ ours -> Kendra


def kendra_key(field: str) -> str:
    """``uri`` -> ``_source_uri``; ``attributes.team`` -> ``team``."""
    if field in FIELD_TO_KENDRA:
        return FIELD_TO_KENDRA[field]
    return field.removeprefix("attributes.")


def attribute_filter(conditions: Sequence[Condition]) -> dict[str, Any] | None:
    """Our ANDed conditions as one Kendra ``AttributeFilter`` (None for no condition)."""
    parts = [_condition_filter(c) for c in conditions]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else {"AndAllFilters": parts}


def _condition_filter(c: Condition) -> dict[str, Any]:
    key = kendra_key(c.field)
    if c.field in _DATE_FIELDS and isinstance(c.value, str):
        c = Condition(c.field, c.op, dt.datetime.fromisoformat(c.value.replace("Z", "+00:00")))
    if c.op == "eq":
        return {"EqualsTo": {"Key": key, "Value": to_kendra_value(c.value)}}
    if c.op == "ne":
        return {"NotFilter": {"EqualsTo": {"Key": key, "Value": to_kendra_value(c.value)}}}
    if c.op == "in":
        values = list(c.value) if isinstance(c.value, list | tuple | set | frozenset) else [c.value]
        return {"OrAllFilters": [{"EqualsTo": {"Key": key, "Value": to_kendra_value(v)}} for v in values]}
    if c.op in _RANGE:
        return {_RANGE[c.op]: {"Key": key, "Value": to_kendra_value(c.value)}}
    raise FilterError(
        f"Kendra cannot filter with {c.op!r} (on {c.field})",
        hint="Kendra filters support =, !=, in, <, <=, >, >=; an existence test is ours only",
    )


# ------------------------------------------------------------ Kendra -> ours


def our_field(key: str) -> str:
    """``_source_uri`` -> ``uri``; ``team`` -> ``attributes.team``."""
    if key in KENDRA_TO_FIELD:
        return KENDRA_TO_FIELD[key]
    if key.startswith("_"):
        raise FilterError(f"the Kendra attribute {key!r} has no counterpart here")
    return f"attributes.{key}"


def conditions_of(flt: Mapping[str, Any] | None) -> tuple[Condition, ...]:
    """A Kendra ``AttributeFilter`` as our ANDed conditions. What cannot be an AND of our conditions
    (an OR over different keys or ranges, a NOT of anything but EqualsTo) raises ``FilterError``."""
    if not flt:
        return ()
    if len(flt) != 1:
        raise FilterError(f"an AttributeFilter holds exactly one operator, not {sorted(flt)}")
    ((op, arg),) = flt.items()
    if op == "AndAllFilters":
        return tuple(c for sub in _filters(arg, op) for c in conditions_of(sub))
    if op == "OrAllFilters":
        return (_or_as_in(_filters(arg, op)),)
    if op == "NotFilter":
        if not isinstance(arg, Mapping) or set(arg) != {"EqualsTo"}:
            raise FilterError("NotFilter is supported around EqualsTo only")
        key, value = _attribute(arg["EqualsTo"])
        return (make_condition(our_field(key), "ne", value),)
    if op == "EqualsTo":
        key, value = _attribute(arg)
        return (make_condition(our_field(key), "eq", value),)
    if op in ("ContainsAny", "ContainsAll"):
        key, value = _attribute(arg)
        values = value if isinstance(value, list) else [value]
        if op == "ContainsAny" or len(values) == 1:
            return (make_condition(our_field(key), "in", values),)
        return tuple(make_condition(our_field(key), "eq", v) for v in values)
    if op in _RANGE_BACK:
        key, value = _attribute(arg)
        return (make_condition(our_field(key), _RANGE_BACK[op], value),)
    raise FilterError(f"unknown AttributeFilter operator {op!r}")


def _filters(arg: Any, op: str) -> list[Mapping[str, Any]]:
    if not isinstance(arg, list) or not all(isinstance(a, Mapping) for a in arg):
        raise FilterError(f"{op} must be a list of AttributeFilters")
    return arg


def _or_as_in(subs: Iterable[Mapping[str, Any]]) -> Condition:
    """``OrAllFilters`` of ``EqualsTo`` on one key: our ``in``."""
    key: str | None = None
    values: list[Any] = []
    for sub in subs:
        if set(sub) != {"EqualsTo"}:
            raise FilterError("OrAllFilters is supported over EqualsTo filters on one attribute only")
        k, v = _attribute(sub["EqualsTo"])
        if key is not None and k != key:
            raise FilterError(f"OrAllFilters over different attributes ({key}, {k}) is not supported")
        key = k
        values.append(v)
    if key is None:
        raise FilterError("OrAllFilters is empty")
    return make_condition(our_field(key), "in", values)


def _attribute(arg: Any) -> tuple[str, Any]:
    if not isinstance(arg, Mapping) or "Key" not in arg or "Value" not in arg:
        raise FilterError("a DocumentAttribute needs Key and Value")
    key = str(arg["Key"])
    value = from_kendra_value(arg["Value"])
    if our_field(key) in _DATE_FIELDS and isinstance(value, dt.datetime):
        value = value.isoformat()
    return key, value


# --------------------------------------------------------------- attributes


def document_attributes(items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Kendra ``DocumentAttributes`` of a result as our attributes (reserved keys dropped; they
    are the hit's title, URI and dates)."""
    out: dict[str, Any] = {}
    for item in items:
        key = str(item.get("Key", ""))
        if not key or key.startswith("_"):
            continue
        value = from_kendra_value(item.get("Value") or {})
        out[key] = value.isoformat() if isinstance(value, dt.datetime) else value
    return out


def kendra_attributes(fields: Mapping[str, Any], attributes: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Our document fields and attributes as Kendra ``DocumentAttributes`` (for ``/kendra``)."""
    out: list[dict[str, Any]] = []
    for field, value in fields.items():
        if value is not None and field in FIELD_TO_KENDRA:
            out.append({"Key": FIELD_TO_KENDRA[field], "Value": to_kendra_value(value)})
    for key, value in attributes.items():
        if value is None or isinstance(value, dict):
            continue
        try:
            out.append({"Key": key, "Value": to_kendra_value(value)})
        except FilterError:  # a fractional number: Kendra has no such type, so it travels as text
            out.append({"Key": key, "Value": {"StringValue": str(value)}})
    return out
