"""The asyncio client: ``AsyncAwsomeChatClient(base_url, api_key)``, the same calls as
:class:`~awsomechat.client.AwsomeChatClient`, awaited."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable, Mapping
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


class AsyncAwsomeChatClient:
    """An asyncio client of the AWSomeChat REST API (see :class:`AwsomeChatClient` for the
    behaviour of every method). ``async with AsyncAwsomeChatClient(url, key) as client: ...``"""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8080",
        api_key: str | None = None,
        *,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        retry: Retry | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retry = retry or Retry()
        self._own = http_client is None
        headers = _core.headers_for(api_key)
        if http_client is None:
            self._http = httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=timeout)
        else:
            self._http = http_client
            self._http.headers.update(headers)

    async def __aenter__(self) -> AsyncAwsomeChatClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._own:
            await self._http.aclose()

    # ------------------------------------------------------------------ plumbing

    async def _send(self, call: Call[Any], *, stream: bool = False) -> httpx.Response:
        attempt = 0
        while True:
            attempt += 1
            request = self._http.build_request(call.method, call.path, **call.request_kwargs())
            try:
                response = await self._http.send(request, stream=stream)
            except _UNREACHED as exc:
                wait = _core.should_retry(self.retry, attempt, None)
                if wait is None:
                    raise TransportError(f"{call.method} {request.url}: {exc}") from exc
                await asyncio.sleep(wait)
                continue
            except httpx.HTTPError as exc:
                raise TransportError(f"{call.method} {request.url}: {exc}") from exc
            if response.status_code < 400:
                return response
            wait = _core.should_retry(self.retry, attempt, response)
            if stream:
                await response.aread()
                await response.aclose()
            if wait is None:
                raise _core.error_of(response)
            await asyncio.sleep(wait)

    async def _run(self, call: Call[T]) -> T:
        return call.parse(await self._send(call))

    # --------------------------------------------------------------------- query

    async def query(
        self, text: str, *, k: int = 10, filters: Filters = None, mode: str = "hybrid", offset: int = 0
    ) -> Passages:
        """Ranked passages for ``text`` among the documents this key may read."""
        return await self._run(_core.query_call(text, k, filters, mode, offset))

    # ---------------------------------------------------------------------- chat

    async def chat(
        self, message: str, *, session_id: str | None = None, filters: Filters = None, profile: str = "chat"
    ) -> Answer:
        """A grounded, cited answer (waits for the whole answer)."""
        return await self._run(_core.chat_call(message, session_id, filters, profile))

    async def chat_stream(
        self, message: str, *, session_id: str | None = None, filters: Filters = None, profile: str = "chat"
    ) -> AsyncIterator[ChatEvent]:
        """The answer as typed events: ``question``, ``sources``, ``token``…, ``final`` or ``error``."""
        response = await self._send(_core.stream_call(message, session_id, filters, profile), stream=True)
        parser = _core.SseParser()
        try:
            async for line in response.aiter_lines():
                event = parser.feed(line)
                if event is not None:
                    yield event
        except httpx.HTTPError as exc:
            raise TransportError(f"the answer stream broke: {exc}") from exc
        finally:
            await response.aclose()

    async def reply(self, email: str, *, session_id: str | None = None, filters: Filters = None) -> Answer:
        """A draft reply to a customer e-mail (the ``email_reply`` profile)."""
        return await self.chat(email, session_id=session_id, filters=filters, profile="email_reply")

    # ----------------------------------------------------------------- documents

    async def upload(
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
        """Upload files for ingestion (an administrator's key), by default waiting for the job."""
        job = await self._run(_core.upload_call(_core.upload_items(files), attributes, groups, collection))
        if not wait:
            return job
        deadline = time.monotonic() + wait_timeout_s
        while not job.finished:
            if time.monotonic() > deadline:
                raise JobFailedError(f"ingestion job {job.id} still {job.status} after {wait_timeout_s} s")
            await asyncio.sleep(poll_s)
            poll_s = min(5.0, poll_s * 1.5)  # a long job is not polled into the key's rate limit
            job = await self.job(job.id)
        return job

    async def job(self, job_id: str) -> Job:
        return await self._run(_core.job_call(job_id))

    async def list_documents(
        self, *, q: str | None = None, source: str | None = None, limit: int = 50, offset: int = 0
    ) -> list[Document]:
        """Documents this key may read, most recently updated first."""
        return (await self._run(_core.list_documents_call(q, source, limit, offset)))[0]

    async def get_document(self, document_id: str | int, *, passages: bool = False) -> Document:
        return await self._run(_core.get_document_call(str(document_id), passages))

    async def delete_document(self, document_id: str | int) -> None:
        await self._run(_core.delete_document_call(str(document_id)))

    # ------------------------------------------------------------------ sessions

    async def list_sessions(self, *, limit: int = 50, offset: int = 0) -> list[Session]:
        return (await self._run(_core.list_sessions_call(limit, offset)))[0]

    async def get_session(self, session_id: str) -> Session:
        return await self._run(_core.get_session_call(str(session_id)))

    async def messages(self, session_id: str) -> list[Message]:
        return await self._run(_core.messages_call(str(session_id)))

    async def rename_session(self, session_id: str, title: str) -> Session:
        return await self._run(_core.rename_session_call(str(session_id), title))

    async def delete_session(self, session_id: str) -> None:
        await self._run(_core.delete_session_call(str(session_id)))

    async def feedback(self, message_id: str, rating: int, comment: str = "") -> Feedback:
        return await self._run(_core.feedback_call(str(message_id), rating, comment))

    # ---------------------------------------------------------------------- misc

    async def me(self) -> Me:
        return await self._run(_core.me_call())

    async def info(self) -> dict[str, Any]:
        return await self._run(_core.info_call())
