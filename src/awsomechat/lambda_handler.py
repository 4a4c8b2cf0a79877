"""AWS Lambda entry point: the REST API behind Amazon API Gateway, as in the reference architecture.

Set the function's handler to ``awsomechat.lambda_handler.handler`` (the ``lambda`` target of the
Dockerfile does). API Gateway REST APIs (payload format 1.0) and HTTP APIs (payload format 1.0 or
2.0) are both understood; Mangum turns each event into an ASGI request for the same FastAPI app
that ``awsomechat serve`` runs.

Settings come from the environment (``AWSOMECHAT_*``), as for ``serve``. A function has neither
room for the embedded PostgreSQL nor the memory and lifetime for a local model, so it needs
``AWSOMECHAT_DATABASE__URL`` (RDS or Aurora PostgreSQL with pgvector) and a remote model
(``AWSOMECHAT_LLM__KIND`` other than an in-process ``llamacpp``, or ``AWSOMECHAT_LLM__RUNNER_URL``
pointing at a model runner elsewhere). Anything else fails the first invocation with a message
that names the variable.

Nothing is built at import time: the app, its database pool and the embedder are built on the
first invocation and reused while the execution environment stays warm. What differs from
``serve`` (docs/deployment.md, "AWS Lambda"): responses are buffered (a streamed answer arrives
whole), API Gateway ends requests after 29-30 s, and an upload is only processed while the
invocation lasts, so send uploads with ``?wait=true``.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from awsomechat.errors import ConfigError, MissingExtraError
from awsomechat.settings import ENV_PREFIX, Settings, load_settings

if TYPE_CHECKING:
    from mangum import Mangum

    from awsomechat.container import Container

# Bodies returned as text rather than base64: Mangum's defaults plus our problem documents.
TEXT_MIME_TYPES = [
    "text/",
    "application/json",
    "application/problem+json",
    "application/javascript",
    "application/xml",
    "application/vnd.oai.openapi",
]


def check_lambda_settings(settings: Settings) -> None:
    """Refuse configurations that cannot work inside a Lambda function, naming the variable."""
    if settings.database.url is None:
        raise ConfigError(
            "a Lambda function cannot run the embedded PostgreSQL server",
            hint=f"set {ENV_PREFIX}DATABASE__URL to a PostgreSQL >= 15 with pgvector (RDS, Aurora)",
        )
    llm = settings.llm
    if llm.kind == "llamacpp" and not getattr(llm, "runner_url", None):
        raise ConfigError(
            "a Lambda function cannot load a GGUF model in-process",
            hint=f"set {ENV_PREFIX}LLM__KIND to a remote model (e.g. openai with {ENV_PREFIX}LLM__BASE_URL), "
            f"or {ENV_PREFIX}LLM__RUNNER_URL to a model runner started elsewhere",
        )


def make_handler(settings: Settings | None = None, *, container: Container | None = None) -> Mangum:
    """A Lambda handler (``handler(event, context) -> result``) serving the API.

    Tests pass their own settings or container; ``handler.app`` is the FastAPI app.
    """
    try:
        from mangum import Mangum
    except ImportError as exc:
        raise MissingExtraError("the AWS Lambda adapter (Mangum)", "lambda") from exc
    from awsomechat.api.app import create_app

    settings = settings or (container.settings if container is not None else load_settings())
    check_lambda_settings(settings)
    app = create_app(settings, container=container)
    # lifespan="off": Mangum would run the app's startup and shutdown around every invocation,
    # closing the database pool each time. The container opens the pool and the embedder on the
    # first request that needs them, and they live as long as the execution environment.
    return Mangum(app, lifespan="off", text_mime_types=TEXT_MIME_TYPES)


@functools.cache
def _default_handler() -> Mangum:
    return make_handler()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The function's entry point: the app is built on the first invocation and then reused."""
    return _default_handler()(event, context)
