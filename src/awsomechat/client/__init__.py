"""A Python client of the AWSomeChat REST API, for notebooks, scripts and agents.

Light by design: it needs only ``httpx`` and imports nothing of the server (no torch, llama.cpp,
FastAPI or database driver), so ``pip install 'awsomechat[client]'`` is enough to use it::

    from awsomechat.client import AwsomeChatClient

    with AwsomeChatClient("http://127.0.0.1:8080", api_key="awc_...") as chat:
        for p in chat.query("lambda deployment package size", k=3):
            print(p.rank, p.title, p.uri, p.scores.fused)
        answer = chat.chat("What is the maximum deployment package size?")
        print(answer.text, [c.uri for c in answer.citations])
"""

from awsomechat.client._core import NO_RETRY, Retry
from awsomechat.client.aio import AsyncAwsomeChatClient
from awsomechat.client.errors import (
    ApiError,
    AuthenticationError,
    AwsomeChatClientError,
    InvalidRequestError,
    JobFailedError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ServiceUnavailableError,
    TransportError,
)
from awsomechat.client.models import (
    Answer,
    ChatEvent,
    Citation,
    Document,
    DocumentPassage,
    ErrorEvent,
    Feedback,
    Filter,
    FinalEvent,
    Job,
    JobFile,
    Me,
    Message,
    Passage,
    Passages,
    QuestionEvent,
    Scores,
    Session,
    SourcesEvent,
    TokenEvent,
)
from awsomechat.client.sync import AwsomeChatClient

__all__ = [
    "NO_RETRY",
    "Answer",
    "ApiError",
    "AsyncAwsomeChatClient",
    "AuthenticationError",
    "AwsomeChatClient",
    "AwsomeChatClientError",
    "ChatEvent",
    "Citation",
    "Document",
    "DocumentPassage",
    "ErrorEvent",
    "Feedback",
    "Filter",
    "FinalEvent",
    "InvalidRequestError",
    "Job",
    "JobFailedError",
    "JobFile",
    "Me",
    "Message",
    "NotFoundError",
    "Passage",
    "Passages",
    "PermissionDeniedError",
    "QuestionEvent",
    "RateLimitedError",
    "Retry",
    "Scores",
    "ServiceUnavailableError",
    "Session",
    "SourcesEvent",
    "TokenEvent",
    "TransportError",
]
