"""botocore failures of a model call in the project's terms: "not now" (503) or "wrong" (502)."""

from __future__ import annotations

from awsomechat.aws import THROTTLING_CODES, describe_error, error_code
from awsomechat.errors import AwsomeChatError, ModelError, ModelUnavailableError

# Beyond throttling: the model or its endpoint is starting, scaling or briefly failing.
NOT_NOW = THROTTLING_CODES | {
    "ServiceUnavailableException", "ServiceUnavailable", "ModelNotReadyException", "InternalServerException",
    "serviceUnavailableException", "throttlingException", "internalServerException",
}  # fmt: skip


def model_error(exc: Exception, what: str) -> AwsomeChatError:
    from botocore.exceptions import ConnectionError, EndpointConnectionError

    message, hint = describe_error(exc, what)
    if error_code(exc) in NOT_NOW or isinstance(exc, EndpointConnectionError | ConnectionError):
        return ModelUnavailableError(message, hint=hint)
    return ModelError(message, hint=hint)
