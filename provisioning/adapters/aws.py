"""What the two AWS adapters share: boto3 clients that leave retrying to us, and error mapping.

Retries belong to the provisioning engine (Celery, with backoff, visible in the attempt log), so
botocore makes exactly one attempt per call (``total_max_attempts=1``; note that ``max_attempts=1``
in botocore's standard mode still retries once).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from provisioning.adapters.base import AdapterError

BOTO_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 1},
    connect_timeout=5,
    read_timeout=30,
)

# Error codes that mean "slow down" or "the service had a problem": try again later.
RETRYABLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "ProvisionedThroughputExceededException",
        "SlowDown",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalFailure",
        "InternalError",
        "InternalServerError",
        "InternalServiceError",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)


def make_client(service: str, endpoint_url: str | None, region: str) -> Any:
    return boto3.session.Session().client(
        service, endpoint_url=endpoint_url, region_name=region, config=BOTO_CONFIG
    )


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


@contextlib.contextmanager
def aws_errors(platform: str, operation: str) -> Iterator[None]:
    """Turn botocore's exceptions into AdapterError, retryable or permanent."""
    try:
        yield
    except ClientError as error:
        code = error_code(error)
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        message = str(error.response.get("Error", {}).get("Message") or error)
        if message.lstrip().startswith("<"):
            # An HTML error page (a proxy, or an operation the endpoint does not implement).
            message = f"the service answered HTTP {status or code}"
        retryable = code in RETRYABLE_CODES or status >= 500
        raise AdapterError(f"{platform} {operation}: {message}", retryable=retryable, code=code) from None
    except (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError, ConnectionClosedError) as error:
        raise AdapterError(
            f"{platform} {operation}: could not reach the service ({error})",
            retryable=True,
            code="Connection",
        ) from None
    except NoCredentialsError:
        raise AdapterError(
            f"{platform} {operation}: no AWS credentials are configured for the workers",
            retryable=False,
            code="NoCredentials",
        ) from None
    except BotoCoreError as error:
        raise AdapterError(
            f"{platform} {operation}: {error}", retryable=False, code=type(error).__name__
        ) from None
