"""The project's own exceptions. Edges (CLI, API) translate them; services only raise them."""

from __future__ import annotations


class AwsomeChatError(Exception):
    """Base class: every error a user can act on. ``hint`` says what to do next."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(AwsomeChatError):
    """A setting is missing or invalid."""


class MissingExtraError(AwsomeChatError):
    """An optional backend was selected but its dependencies are not installed."""

    def __init__(self, what: str, extra: str) -> None:
        super().__init__(
            f"{what} needs optional dependencies that are not installed",
            hint=f"pip install 'awsomechat[{extra}]'",
        )


class StoreError(AwsomeChatError):
    """The document store is unreachable or in an unexpected state."""


class StoreUnavailableError(StoreError):
    """The database cannot be reached now (connection lost, no free connection, timeout)."""


class StoreValueError(AwsomeChatError):
    """The database refused a value (e.g. a NUL character); a 422, not an outage."""


class RemoteStoreError(StoreError):
    """A store of another service (DynamoDB memory) is unavailable; the database may be fine."""


class DocumentRejectedError(StoreError):
    """The database refused one document's data (the rest of a batch can go on)."""


class EmbedderMismatchError(StoreError):
    """The store was indexed with another embedding model than the configured one."""


class LoaderError(AwsomeChatError):
    """A file could not be turned into text (corrupt, empty, binary, unsupported, too big)."""


class SourceError(AwsomeChatError):
    """A source (path, URL) could not be read."""


class FilterError(AwsomeChatError):
    """A metadata filter expression is malformed."""


class NotFoundError(AwsomeChatError):
    """A requested object does not exist (or is not visible to the caller)."""


class ModelError(AwsomeChatError):
    """The chat model failed (load error, server error, broken stream)."""


class AuthenticationError(AwsomeChatError):
    """No credentials, or credentials that do not identify an active user."""


class PermissionDeniedError(AwsomeChatError):
    """The caller is known but may not do this (e.g. an admin-only action)."""


class ValidationFailedError(AwsomeChatError):
    """A request value is invalid; ``field`` names it."""

    def __init__(self, field: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(f"{field}: {message}", hint=hint)
        self.field = field


class UnsupportedTypeError(LoaderError):
    """The file is of a type no loader reads, or its content contradicts its type."""


class FileTooLargeError(LoaderError):
    """The file is over the size limit."""


class ModelUnavailableError(ModelError):
    """The chat model cannot answer right now (its runner is starting, restarting or down)."""

    def __init__(self, message: str, *, hint: str | None = None, retry_after_s: int = 5) -> None:
        super().__init__(message, hint=hint)
        self.retry_after_s = retry_after_s
