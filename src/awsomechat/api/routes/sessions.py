"""Conversations: list, read, rename, delete, and feedback on answers. Always the caller's own."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Query, Response

from awsomechat.api.links import RequestLinks
from awsomechat.api.schemas import (
    FeedbackIn,
    FeedbackOut,
    MessageList,
    MessageOut,
    SessionList,
    SessionOut,
    SessionRename,
)
from awsomechat.api.security import Context, CurrentPrincipal

router = APIRouter(tags=["sessions"])


@router.get("/v1/sessions", response_model=SessionList)
def list_sessions(
    principal: CurrentPrincipal,
    ctx: Context,
    limit: int = Query(50, ge=1, le=200),
    offset: int = Query(0, ge=0, le=100_000),
) -> SessionList:
    """The caller's conversations, most recently active first."""
    rows = ctx.container.conversations.list_sessions(principal.user_id, limit=limit + 1, offset=offset)
    return SessionList(
        sessions=[SessionOut.of(s) for s in rows[:limit]],
        next_offset=offset + limit if len(rows) > limit else None,
    )


@router.get("/v1/sessions/{session_id}", response_model=SessionOut)
def get_session(session_id: uuid.UUID, principal: CurrentPrincipal, ctx: Context) -> SessionOut:
    """One conversation (404 for ids that do not exist or belong to someone else)."""
    return SessionOut.of(ctx.container.conversations.get_session(principal.user_id, session_id))


@router.get("/v1/sessions/{session_id}/messages", response_model=MessageList)
def get_messages(
    session_id: uuid.UUID, principal: CurrentPrincipal, ctx: Context, links: RequestLinks
) -> MessageList:
    """Every turn of a conversation in order, with citations, sources and feedback."""
    memory = ctx.container.conversations
    session = memory.get_session(principal.user_id, session_id)
    turns = memory.turns(principal.user_id, session_id)
    return MessageList(session=SessionOut.of(session), messages=[MessageOut.of(t, links) for t in turns])


@router.patch("/v1/sessions/{session_id}", response_model=SessionOut)
def rename_session(
    session_id: uuid.UUID, body: SessionRename, principal: CurrentPrincipal, ctx: Context
) -> SessionOut:
    """Rename a conversation."""
    return SessionOut.of(
        ctx.container.conversations.rename_session(principal.user_id, session_id, body.title)
    )


@router.delete("/v1/sessions/{session_id}", status_code=204, response_class=Response)
def delete_session(session_id: uuid.UUID, principal: CurrentPrincipal, ctx: Context) -> Response:
    """Delete a conversation with its messages and feedback."""
    ctx.container.conversations.delete_session(principal.user_id, session_id)
    return Response(status_code=204)


@router.post("/v1/messages/{message_id}/feedback", response_model=FeedbackOut)
def feedback(
    message_id: uuid.UUID, body: FeedbackIn, principal: CurrentPrincipal, ctx: Context
) -> FeedbackOut:
    """Rate an answer (1 or -1) with an optional comment; rating again replaces it."""
    fb = ctx.container.conversations.set_feedback(principal.user_id, message_id, body.rating, body.comment)
    return FeedbackOut(
        message_id=fb.message_id, rating=fb.rating, comment=fb.comment, updated_at=fb.updated_at
    )
