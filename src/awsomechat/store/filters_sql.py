"""Metadata conditions and the caller's access scope as one SQL ``WHERE`` fragment.

The access clause is always ANDed in: a caller's own filters can only narrow what they see. The
fragment refers to the documents table as ``d`` and is used inside both retrievers' queries.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from psycopg import sql

from awsomechat.types import AccessScope, Condition

_CMP = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def access_clause(scope: AccessScope, table: str = "d") -> tuple[sql.Composable, list[Any]]:
    """Public documents (no groups) plus documents sharing a group with the caller.

    ``table`` names the alias whose ``groups`` column is tested: the documents (``d``), or the BM25
    statistics and postings, which carry their documents' groups so scores can be scoped too.
    """
    if scope.all_access:
        return sql.SQL("TRUE"), []
    groups = sql.SQL("{}.groups").format(sql.Identifier(table))
    if not scope.groups:
        return sql.SQL("{} = '{{}}'").format(groups), []
    return sql.SQL("({g} = '{{}}' OR {g} && %s::text[])").format(g=groups), [sorted(scope.groups)]


def condition_clause(cond: Condition) -> tuple[sql.Composable, list[Any]]:
    """SQL for one condition (field names were validated by ``awsomechat.filters``)."""
    if cond.field.startswith("attributes."):
        return _attribute_clause(cond.field.removeprefix("attributes."), cond)
    col = sql.SQL("d.") + sql.Identifier(cond.field)
    if cond.op == "exists":
        return sql.SQL("TRUE"), []
    if cond.op == "eq":
        return sql.SQL("{} = %s").format(col), [cond.value]
    if cond.op == "ne":
        return sql.SQL("{} <> %s").format(col), [cond.value]
    if cond.op == "in":
        return sql.SQL("{} = ANY(%s)").format(col), [list(cond.value)]
    return sql.SQL("{} {} %s").format(col, sql.SQL(_CMP[cond.op])), [cond.value]


def _attribute_clause(key: str, cond: Condition) -> tuple[sql.Composable, list[Any]]:
    if cond.op == "exists":
        return sql.SQL("d.attributes ? %s"), [key]
    if cond.op == "eq":  # containment uses the GIN index and compares JSON types exactly
        return sql.SQL("d.attributes @> %s::jsonb"), [json.dumps({key: cond.value})]
    if cond.op == "ne":
        return sql.SQL("NOT (d.attributes @> %s::jsonb)"), [json.dumps({key: cond.value})]
    if cond.op == "in":
        return (
            sql.SQL("d.attributes @> ANY(%s::jsonb[])"),
            [[json.dumps({key: v}) for v in cond.value]],
        )
    op = sql.SQL(_CMP[cond.op])
    if isinstance(cond.value, int | float):
        # Compare numerically, and only against values stored as JSON numbers.
        expr = sql.SQL(
            "(CASE WHEN jsonb_typeof(d.attributes -> %s) = 'number' "
            "THEN (d.attributes ->> %s)::numeric END) {} %s"
        ).format(op)
        return expr, [key, key, cond.value]
    expr = sql.SQL(
        "(CASE WHEN jsonb_typeof(d.attributes -> %s) = 'string' THEN d.attributes ->> %s END) {} %s"
    ).format(op)
    return expr, [key, key, str(cond.value)]


def where_clause(conditions: Sequence[Condition], scope: AccessScope) -> tuple[sql.Composable, list[Any]]:
    """``access AND cond1 AND cond2 ...`` with its parameters in order."""
    parts: list[sql.Composable] = []
    params: list[Any] = []
    for clause, p in [access_clause(scope), *(condition_clause(c) for c in conditions)]:
        parts.append(sql.SQL("(") + clause + sql.SQL(")"))
        params.extend(p)
    return sql.SQL(" AND ").join(parts), params
