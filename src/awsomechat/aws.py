"""boto3 clients and botocore errors for the AWS adapters (the ``aws`` extra), imported lazily.

Region, credentials and endpoints come from the standard AWS environment, which botocore reads
itself: ``AWS_REGION``/``AWS_DEFAULT_REGION``, ``AWS_ACCESS_KEY_ID``/``AWS_PROFILE``/instance and
task roles, and per-service endpoints such as ``AWS_ENDPOINT_URL_DYNAMODB`` or
``AWS_ENDPOINT_URL_S3`` (LocalStack, moto, VPC endpoints). AWSomeChat adds no settings of its own
for them, so the same deployment files work for every AWS tool.
"""

from __future__ import annotations

import os
from typing import Any

from awsomechat.errors import ConfigError, MissingExtraError

__all__ = ["THROTTLING_CODES", "client", "describe_error", "error_code", "is_aws_error"]

# Codes that mean "too many requests right now": retried by botocore first, then a 503.
THROTTLING_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "Throttling",
        "RequestLimitExceeded",
        "SlowDown",
        "TooManyRequestsException",
    }
)
_ACCESS_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidAccessKeyId",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
        "AllAccessDisabled",
    }
)


def client(service: str, *, what: str, max_attempts: int = 4, timeout_s: float = 10.0) -> Any:
    """A boto3 client for ``service`` from the standard AWS environment.

    ``what`` names the feature in the error when boto3 is missing ("DynamoDB conversation
    memory"). Throttling and connection errors are retried by botocore (standard mode,
    ``max_attempts`` tries in all) before they reach the caller.

    Raises:
        MissingExtraError: boto3 is not installed (``pip install 'awsomechat[aws]'``).
        ConfigError: no AWS region is configured.
    """
    try:
        import boto3
        from botocore.config import Config
        from botocore.exceptions import NoRegionError
    except ImportError as exc:
        raise MissingExtraError(what, "aws") from exc
    config = Config(
        retries={"mode": "standard", "total_max_attempts": max_attempts},
        connect_timeout=timeout_s,
        read_timeout=timeout_s,
    )
    try:
        # A session per client: boto3's default session is shared mutable state across threads.
        # AWS_REGION is what the SDKs document (and Lambda sets); this botocore reads only
        # AWS_DEFAULT_REGION or the profile, which stay the fallback.
        region = os.environ.get("AWS_REGION") or None
        return boto3.session.Session(region_name=region).client(service, config=config)
    except NoRegionError:
        raise ConfigError(
            f"{what}: no AWS region configured",
            hint="set AWS_REGION (or AWS_DEFAULT_REGION, or a region in ~/.aws/config)",
        ) from None


def is_aws_error(exc: BaseException) -> bool:
    """True for botocore's exceptions (service errors and transport/credential errors)."""
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:  # pragma: no cover - nothing can raise them then
        return False
    return isinstance(exc, ClientError | BotoCoreError)


def error_code(exc: BaseException) -> str:
    """The AWS error code of a ``ClientError`` ("" for transport errors)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def describe_error(exc: BaseException, what: str) -> tuple[str, str | None]:
    """A message and a hint for a botocore error, for the project's own exceptions."""
    from botocore.exceptions import (
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
        ReadTimeoutError,
    )

    code = error_code(exc)
    if code in THROTTLING_CODES:
        return f"{what}: AWS is throttling requests ({code})", "try again shortly, or raise the capacity"
    if code in _ACCESS_CODES:
        return (
            f"{what}: access denied ({code})",
            "check the credentials and that the IAM policy allows this action (docs/aws.md)",
        )
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return (
            f"{what}: no AWS credentials found",
            "set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE, or run with an IAM role",
        )
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError):
        endpoint = getattr(exc, "kwargs", {}).get("endpoint_url", "")
        where = f" at {endpoint}" if endpoint else ""
        return (
            f"{what}: cannot reach the AWS endpoint{where}",
            "check the network, AWS_REGION and any AWS_ENDPOINT_URL_* variable",
        )
    if isinstance(exc, ReadTimeoutError):
        return f"{what}: the AWS endpoint did not answer in time", "try again shortly"
    if code:
        message = str(getattr(exc, "response", {}).get("Error", {}).get("Message", "")).strip()
        return f"{what}: {code}" + (f": {message}" if message else ""), None
    return f"{what}: {type(exc).__name__}: {exc}", None
