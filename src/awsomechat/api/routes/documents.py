"""Documents: upload (background ingestion jobs), list, read, delete; facets for filter pickers.

Reads are limited to what the caller may see; uploads and deletes need an administrator. An
upload is checked as a whole before anything is stored: a file that is too big or of a type no
loader reads rejects the request (413/415, naming the file). Files that pass but fail to parse
are reported per file in the job; the others are stored.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from typing import Any

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from awsomechat.api.context import ApiContext
from awsomechat.api.links import RequestLinks
from awsomechat.api.problems import ApiProblem, documented_errors
from awsomechat.api.schemas import DocumentDetail, DocumentList, DocumentOut, JobList, JobOut, PassageOut
from awsomechat.api.security import AdminPrincipal, Context, CurrentPrincipal
from awsomechat.api.uploads import OPENAPI_BODY, ReceivedUpload, UploadLimits, receive_upload, upload_slot
from awsomechat.auth.names import check_groups
from awsomechat.errors import (
    AwsomeChatError,
    FileTooLargeError,
    LoaderError,
    NotFoundError,
    UnsupportedTypeError,
    ValidationFailedError,
)
from awsomechat.filters import parse_attribute
from awsomechat.ingest.jobs import Upload
from awsomechat.ingest.jobs_pg import IngestJob
from awsomechat.ingest.pipeline import IngestOptions
from awsomechat.store.documents import row_id
from awsomechat.text.storable import unstorable_reason
from awsomechat.types import SourceItem

router = APIRouter(tags=["documents"])
_COLLECTION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _job_out(job: IngestJob) -> JobOut:
    return JobOut(
        id=job.id, status=job.status,  # type: ignore[arg-type]
        total=job.total, done=job.done, files=[f.to_json() for f in job.files],  # type: ignore[misc]
        collection=str(job.options.get("collection", "")), attributes=dict(job.options.get("attributes", {})),
        groups=list(job.options.get("groups", [])), error=job.error, created_at=job.created_at,
        finished_at=job.finished_at,
    )  # fmt: skip


@router.get("/v1/documents", response_model=DocumentList)
def list_documents(
    principal: CurrentPrincipal,
    ctx: Context,
    links: RequestLinks,
    q: str | None = Query(None, max_length=200, pattern=r"^[^\x00]*$", description="matches title or URI"),
    source: str | None = Query(None, max_length=2000, pattern=r"^[^\x00]*$"),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=1_000_000),
) -> DocumentList:
    """Documents the caller may read, most recently updated first."""
    rows = ctx.container.documents.list_documents(
        principal.access, source=source, query=q, limit=limit + 1, offset=offset
    )
    return DocumentList(
        documents=[DocumentOut.of(d, links) for d in rows[:limit]],
        next_offset=offset + limit if len(rows) > limit else None,
    )


@router.get("/v1/documents/{document_id}", response_model=DocumentDetail)
def get_document(
    document_id: str,
    principal: CurrentPrincipal,
    ctx: Context,
    links: RequestLinks,
    passages: bool = Query(False, description="include the document's passages"),
) -> DocumentDetail:
    """One document (404 when it does not exist or the caller may not read it)."""
    record = ctx.container.documents.get(row_id(document_id), principal.access)
    detail = DocumentDetail(**DocumentOut.of(record, links).model_dump())
    if passages:
        detail.passage_list = [
            PassageOut(
                chunk_id=str(c.id),
                position=c.position,
                text=c.text,
                heading_path=list(c.heading_path),
                page=c.page,
            )
            for c in ctx.container.documents.chunks(record.id)
        ]
    return detail


@router.delete("/v1/documents/{document_id}", status_code=204, response_class=Response)
def delete_document(document_id: str, principal: AdminPrincipal, ctx: Context) -> Response:
    """Delete a document and its passages (administrators)."""
    if not ctx.container.documents.delete(row_id(document_id)):  # admins see every document
        raise NotFoundError(f"no document with id {document_id!r}")
    return Response(status_code=204)


@router.get("/v1/facets")
def facets(principal: CurrentPrincipal, ctx: Context) -> dict[str, Any]:
    """Sources and attribute values (with document counts) the caller may filter on."""
    result: dict[str, Any] = ctx.container.documents.facets(principal.access)
    return result


def _parse_attributes(raw: str | None) -> dict[str, Any]:
    if not raw or not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValidationFailedError("attributes", f"not valid JSON ({exc.msg})") from None
    if not isinstance(value, dict):
        raise ValidationFailedError("attributes", "must be a JSON object of key: value")
    for key, val in value.items():
        reason = unstorable_reason(key)
        if reason:  # the key cannot name the field: it would not survive the JSON response either
            raise ValidationFailedError("attributes", f"an attribute name {reason}")
        if not isinstance(val, str | int | float | bool):
            raise ValidationFailedError(f"attributes.{key}", "values must be strings, numbers or booleans")
        reason = unstorable_reason(val) if isinstance(val, str) else None
        if reason:
            raise ValidationFailedError(f"attributes.{key}", reason)
        try:
            parse_attribute(f"{key}=x")  # validates the key
        except AwsomeChatError as exc:
            raise ValidationFailedError(f"attributes.{key}", exc.message) from None
    return dict(value)


def _checked_uploads(ctx: ApiContext, received: ReceivedUpload) -> list[Upload]:
    """Every file's cheap checks (type, content, empty, decompression bombs) before any is stored."""
    uploads: list[Upload] = []
    for f in received.files:
        data = f.read()
        item = SourceItem(uri=f.name, source="upload", name=f.name, data=data, content_type=f.content_type)
        try:
            ctx.container.ingestion.precheck(item)
        except LoaderError as exc:
            status = (
                415
                if isinstance(exc, UnsupportedTypeError)
                else 413
                if isinstance(exc, FileTooLargeError)
                else 422
            )
            detail = exc.message + (f" ({exc.hint})" if exc.hint else "")
            raise ApiProblem(
                status, detail, errors=[{"field": f"files[{f.index}]", "message": exc.message}]
            ) from None
        uploads.append(Upload(f.name, data, f.content_type))
    return uploads


@router.post(
    "/v1/documents",
    status_code=202,
    response_model=JobOut,
    responses=documented_errors(413, 415),
    openapi_extra=OPENAPI_BODY,
)
async def upload_documents(
    request: Request,
    principal: AdminPrincipal,
    ctx: Context,
    wait: bool = Query(False, description="answer when ingestion has finished (up to 10 minutes)"),
) -> JobOut:
    """Upload files for ingestion (administrators). Returns the job to poll at `GET /v1/jobs/{id}`.

    Multipart fields: `files` (repeated), `attributes` (a JSON object, e.g. `{"team": "finance"}`),
    `groups` (comma-separated groups that may read the documents), `collection` (default
    `uploads`). Uploading a file with the same name into the same collection replaces the earlier
    version. The key is checked before the body is read; a file over `ingest.max_file_mb` or an
    upload over `api.max_upload_mb` is refused (413) as soon as it passes the limit.
    """
    s = ctx.settings
    limits = UploadLimits(s.api.max_upload_files, s.ingest.max_file_mb, s.api.max_upload_mb)
    with upload_slot(ctx):
        received = await receive_upload(request, limits)
        try:
            collection = received.fields.get("collection") or "uploads"
            if not _COLLECTION_RE.match(collection):
                raise ValidationFailedError("collection", "use letters, digits and _ . - (up to 64)")
            attrs = _parse_attributes(received.fields.get("attributes"))
            try:
                group_list = check_groups([g for g in received.fields.get("groups", "").split(",")])
            except AwsomeChatError as exc:
                raise ValidationFailedError("groups", exc.message) from None
            uploads = await run_in_threadpool(_checked_uploads, ctx, received)
        finally:
            received.close()
    options = IngestOptions(attributes=attrs, groups=group_list)
    job, future = await run_in_threadpool(
        ctx.container.ingest_jobs.submit, principal.user_id, uploads, collection, options
    )
    if wait:
        await asyncio.wait_for(asyncio.wrap_future(future), timeout=600)
    return _job_out(await run_in_threadpool(ctx.container.jobs.get, job.id, None))


@router.get("/v1/jobs", response_model=JobList)
def list_jobs(principal: CurrentPrincipal, ctx: Context, limit: int = Query(20, ge=1, le=200)) -> JobList:
    """Recent ingestion jobs (the caller's own; administrators see all)."""
    jobs = ctx.container.jobs.list(None if principal.admin else principal.user_id, limit=limit)
    return JobList(jobs=[_job_out(j) for j in jobs])


@router.get("/v1/jobs/{job_id}", response_model=JobOut)
def get_job(job_id: uuid.UUID, principal: CurrentPrincipal, ctx: Context) -> JobOut:
    """An ingestion job with per-file status and errors."""
    return _job_out(ctx.container.jobs.get(job_id, None if principal.admin else principal.user_id))
