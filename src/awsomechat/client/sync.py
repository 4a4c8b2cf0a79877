"""The blocking client: ``AwsomeChatClient(base_url, api_key)``."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeVar

import httpx

from awsomechat.client import _core
from awsomechat.client._core import DEFAULT_TIMEOUT, Call, Retry, Upload
from awsomechat.client.errors import JobFailedError, TransportError
from awsomechat.client.models import (
    Answer,
    ChatEvent,
    Document,
    Feedback,
    Filters,
    Job,
    Me,
    Message,
    Passages,
    Session,
)

T = TypeVar("T")
_UNREACHED = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class AwsomeChatClient:
    """A client of the AWSomeChat REST API.

    ``AwsomeChatClient("http://127.0.0.1:8080", api_key="awc_...")``. Requests the server refused
    before doing anything (429, 503) are retried as ``retry`` says, honouring ``Retry-After``;
    errors raise :class:`~awsomechat.client.errors.ApiError` subclasses that carry the problem
    document. ``http_client`` replaces the underlying ``httpx.Client`` (its base URL, headers and
    transport are then used as given, with the key added). Use it as a context manager, or
    ``close()`` it.
    """

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8080",
        api_key: str | None = None,
        *,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        retry: Retry | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retry = retry or Retry()
        self._own = http_client is None
        headers = _core.headers_for(api_key)
        if http_client is None:
            self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)
        else:
            self._http = http_client
            self._http.headers.update(headers)

    def __enter__(self) -> AwsomeChatClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        if self._own:
            self._http.close()

    # ------------------------------------------------------------------ plumbing

    def _send(self, call: Call[Any], *, stream: bool = False) -> httpx.Response:
        attempt = 0
        while True:
            attempt += 1
            request = self._http.build_request(call.method, call.path, **call.request_kwargs())
            try:
                response = self._http.send(request, stream=stream)
            except _UNREACHED as exc:
                wait = _core.should_retry(self.retry, attempt, None)
                if wait is None:
                    raise TransportError(f"{call.method} {request.url}: {exc}") from exc
                time.sleep(wait)
                continue
            except httpx.HTTPError as exc:
                raise TransportError(f"{call.method} {request.url}: {exc}") from exc
            if response.status_code < 400:
                return response
            wait = _core.should_retry(self.retry, attempt, response)
            if stream:
                response.read()
                response.close()
            if wait is None:
                raise _core.error_of(response)
            time.sleep(wait)

    def _run(self, call: Call[T]) -> T:
        return call.parse(self._send(call))

    # --------------------------------------------------------------------- query

    def query(
        self, text: str, *, k: int = 10, filters: Filters = None, mode: str = "hybrid", offset: int = 0
    ) -> Passages:
        """Ranked passages for ``text`` (retrieval only) among the documents this key may read.

        ``mode``: hybrid (dense + BM25, the default), dense or bm25. ``filters`` narrow the search,
        e.g. ``{"attributes.team": "finance"}``. The result is a list of :class:`Passage` with
        ``next_offset`` for the next page."""
        return self._run(_core.query_call(text, k, filters, mode, offset))

    # ---------------------------------------------------------------------- chat

    def chat(
        self, message: str, *, session_id: str | None = None, filters: Filters = None, profile: str = "chat"
    ) -> Answer:
        """A grounded, cited answer (waits for the whole answer). Pass ``session_id`` (from an
        earlier answer) to continue a conversation: follow-ups are rewritten with its history."""
        return self._run(_core.chat_call(message, session_id, filters, profile))

    def chat_stream(
        self, message: str, *, session_id: str | None = None, filters: Filters = None, profile: str = "chat"
    ) -> Iterator[ChatEvent]:
        """The answer as typed events while it is written: ``question``, ``sources``, ``token``…,
        then ``final`` (the stored answer) or ``error``. Stopping the iteration early closes the
        connection, which stops the model; nothing is stored then."""
        response = self._send(_core.stream_call(message, session_id, filters, profile), stream=True)
        try:
            yield from _core.sse_events(response.iter_lines())
        except httpx.HTTPError as exc:
            raise TransportError(f"the answer stream broke: {exc}") from exc
        finally:
            response.close()

    def reply(self, email: str, *, session_id: str | None = None, filters: Filters = None) -> Answer:
        """A draft reply to a customer e-mail, grounded in the documents (the ``email_reply`` profile),
        or a polite hand-off when they do not cover it (``abstained``)."""
        return self.chat(email, session_id=session_id, filters=filters, profile="email_reply")

    # ----------------------------------------------------------------- documents

    def upload(
        self,
        files: Iterable[Upload] | Upload,
        *,
        attributes: Mapping[str, Any] | None = None,
        groups: Iterable[str] | None = None,
        collection: str | None = None,
        wait: bool = True,
        wait_timeout_s: float = 600.0,
        poll_s: float = 0.5,
    ) -> Job:
        """Upload files for ingestion (an administrator's key). With ``wait`` (the default) the job is
        polled (from every ``poll_s``, growing to every 5 s) until it has finished; the returned
        :class:`Job` has per-file status and errors.
        Raises :class:`JobFailedError` when it has not finished within ``wait_timeout_s``."""
        job = self._run(_core.upload_call(_core.upload_items(files), attributes, groups, collection))
        if not wait:
            return job
        deadline = time.monotonic() + wait_timeout_s
        while not job.finished:
            if time.monotonic() > deadline:
                raise JobFailedError(f"ingestion job {job.id} still {job.status} after {wait_timeout_s} s")
            time.sleep(poll_s)
            poll_s = min(5.0, poll_s * 1.5)  # a long job is not polled into the key's rate limit
            job = self.job(job.id)
        return job

    def job(self, job_id: str) -> Job:
        """An ingestion job with per-file status."""
        return self._run(_core.job_call(job_id))

    def list_documents(
        self, *, q: str | None = None, source: str | None = None, limit: int = 50, offset: int = 0
    ) -> list[Document]:
        """Documents this key may read, most recently updated first (``q`` matches title or URI)."""
        return self._run(_core.list_documents_call(q, source, limit, offset))[0]

    def iter_documents(self, *, q: str | None = None, source: str | None = None) -> Iterator[Document]:
        """Every document this key may read, page by page."""
        offset: int | None = 0
        while offset is not None:
            docs, offset = self._run(_core.list_documents_call(q, source, 200, offset))
            yield from docs

    def get_document(self, document_id: str | int, *, passages: bool = False) -> Document:
        """One document (``passages=True``: with its passages). 404 if it does not exist or this
        key may not read it."""
        return self._run(_core.get_document_call(str(document_id), passages))

    def delete_document(self, document_id: str | int) -> None:
        """Delete a document and its passages (an administrator's key)."""
        self._run(_core.delete_document_call(str(document_id)))

    # ------------------------------------------------------------------ sessions

    def list_sessions(self, *, limit: int = 50, offset: int = 0) -> list[Session]:
        """This key's user's conversations, most recently active first."""
        return self._run(_core.list_sessions_call(limit, offset))[0]

    def get_session(self, session_id: str) -> Session:
        return self._run(_core.get_session_call(str(session_id)))

    def messages(self, session_id: str) -> list[Message]:
        """Every turn of a conversation in order."""
        return self._run(_core.messages_call(str(session_id)))

    def rename_session(self, session_id: str, title: str) -> Session:
        return self._run(_core.rename_session_call(str(session_id), title))

    def delete_session(self, session_id: str) -> None:
        self._run(_core.delete_session_call(str(session_id)))

    def feedback(self, message_id: str, rating: int, comment: str = "") -> Feedback:
        """Rate an answer: 1 (helpful) or -1, with an optional comment; rating again replaces it."""
        return self._run(_core.feedback_call(str(message_id), rating, comment))

    # ---------------------------------------------------------------------- misc

    def me(self) -> Me:
        """The caller as the server sees it (user, groups, admin)."""
        return self._run(_core.me_call())

    def info(self) -> dict[str, Any]:
        """The server's version, prompt profiles and upload limits (no key needed)."""
        return self._run(_core.info_call())
