"""AWS error classification: AWS's error codes as rows of nbctl's one fault table.

AWS reports a failure as an error code plus a message (botocore's ClientError:
`response["Error"]["Code"|"Message"]`, the HTTP status in `ResponseMetadata`). The table is
read top to bottom; the first matching row decides (nbctl_cloud.faults). Nothing here imports
boto3 at module level.

botocore's own retries are turned off in clients.py (`total_max_attempts=1`), so that the one
policy of nbctl_cloud.retry is the only one retrying, and only what this table calls transient.
"""
from __future__ import annotations

import re
from dataclasses import replace
from functools import partial
from typing import Callable, TypeVar

from nbctl_cloud import errors, faults
from nbctl_cloud.faults import Fault, Row

T = TypeVar("T")

_NO_CAPACITY = "no capacity ({code}): {message}"

TABLE = faults.FaultTable(
    rows=(
        Row("zone-capacity", errors.CapacityError, errors.Scope.ZONE, said=_NO_CAPACITY,
            codes=("InsufficientInstanceCapacity", "InsufficientHostCapacity",
                   "InsufficientCapacity", "InsufficientReservedInstanceCapacity")),
        Row("spot-price", errors.CapacityError, errors.Scope.ZONE, said=_NO_CAPACITY,
            codes=("SpotMaxPriceTooLow",)),
        Row("type-not-in-zone", errors.CapacityError, errors.Scope.ZONE, said=_NO_CAPACITY,
            codes=("Unsupported",), pattern=r"not supported in your requested Availability Zone"),
        Row("capacity-text", errors.CapacityError, errors.Scope.ZONE, said=_NO_CAPACITY,
            pattern=r"insufficient (?:[\w-]+ )*capacity|capacity[- ]not[- ]available"),
        Row("throttled", errors.TransientError,
            codes=("RequestLimitExceeded", "Throttling", "ThrottlingException",
                   "TooManyRequestsException", "RequestThrottled", "RequestThrottledException",
                   "PriorRequestNotComplete", "SlowDown")),
        Row("server-error", errors.TransientError,
            codes=("InternalError", "InternalFailure", "InternalServerError",
                   "InternalServerException", "ServiceUnavailable", "ServiceUnavailableException",
                   "Unavailable")),
        Row("changing-state", errors.TransientError, codes=("IncorrectInstanceState",)),
        # A persistent spot request is marked-for-stop for a while after a user stop, and
        # StartInstances is refused meanwhile.
        Row("spot-request-changing", errors.TransientError, codes=("IncorrectSpotRequestState",)),
        Row("http-5xx", errors.TransientError, http=(500, 502, 503, 504)),
        Row("permission", errors.AuthError,
            codes=("UnauthorizedOperation", "AccessDenied", "AccessDeniedException"),
            said="AWS refused {permission} ({code})",
            fix="allow the IAM action {permission} for the credentials nbctl uses (AWS_PROFILE "
                "or the default credential chain)"),
        Row("credentials", errors.AuthError,
            codes=("AuthFailure", "ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId",
                   "UnrecognizedClientException", "SignatureDoesNotMatch"),
            said="AWS rejected the credentials ({code}: {message})",
            fix="refresh them (`aws sso login`, `aws configure`) or set AWS_PROFILE"),
        Row("quota", errors.QuotaError, errors.Scope.REGION,
            codes=("ResourceLimitExceeded", "VcpuLimitExceeded", "MaxSpotInstanceCountExceeded",
                   "InstanceLimitExceeded", "ServiceQuotaExceededException"),
            fix="raise the quota in the Service Quotas console for this region"),
        Row("not-found", errors.NotFound,
            codes=("NoSuchEntity", "ResourceNotFound", "ResourceNotFoundException",
                   "InvalidInstanceID.NotFound")),
        Row("record-not-found", errors.NotFound, codes=("ValidationException",),
            pattern=r"RecordNotFound|does not exist"),
        Row("bad-image", errors.UserError,
            codes=("InvalidAMIID.NotFound", "InvalidAMIID.Malformed")),
        Row("bad-input", errors.UserError,
            codes=("ValidationException", "InvalidParameterValue", "InvalidParameter",
                   "InvalidParameterCombination", "MissingParameter",
                   "IdempotentParameterMismatch", "ConflictException")),
    ),
    said="{code}: {message}",
    unmatched="AWS error {code}: {message}",
    fields=lambda f: {"permission": permission_of(f)},
)

_PERMISSION_RE = re.compile(r"not authorized to perform:? ([\w-]+:[\w*]+)")


def permission_of(f: Fault) -> str:
    """The IAM action refused: from the message, else the operation that was refused."""
    m = _PERMISSION_RE.search(f.message)
    if m:
        return m.group(1)
    service, operation = f.details.get("service"), f.details.get("operation")
    if service and operation:
        return f"{service}:{operation}"
    return "the missing permission"


row_for = TABLE.row_for
to_error = TABLE.to_error


def fault_from_client_error(exc) -> Fault:
    """From a botocore.exceptions.ClientError; the code is always there, if only as ""."""
    response = getattr(exc, "response", None) or {}
    err = response.get("Error") or {}
    meta = response.get("ResponseMetadata") or {}
    return Fault(message=str(err.get("Message") or exc), http_status=meta.get("HTTPStatusCode"),
                 codes=(str(err.get("Code") or ""),),
                 details={"service": "", "operation": getattr(exc, "operation_name", "") or ""})


def translate(exc: Exception, fn: Callable | None = None,
              action: str = "") -> errors.NbctlError | None:
    """nbctl's error for what a boto3 call `fn` raised, or None for anything else."""
    from botocore import exceptions as bexc

    if isinstance(exc, bexc.ClientError):
        fault = fault_from_client_error(exc)
        # The client that made the call knows its service's IAM prefix (ec2, sagemaker ...).
        meta = getattr(getattr(fn, "__self__", None), "meta", None)
        if meta is not None:
            service = meta.service_model.signing_name
            fault = replace(fault, details={**fault.details, "service": service})
        return to_error(fault, action=action)
    if isinstance(exc, (bexc.EndpointConnectionError, bexc.ConnectTimeoutError,
                        bexc.ReadTimeoutError, bexc.ConnectionClosedError)):
        return errors.TransientError(faults.prefixed(action, f"cannot reach AWS ({exc})"))
    if isinstance(exc, bexc.NoCredentialsError):
        return errors.AuthError("no AWS credentials found: run `aws configure` or `aws sso login`, "
                         "or set AWS_PROFILE / AWS_ACCESS_KEY_ID")
    if isinstance(exc, bexc.NoRegionError):
        return errors.UserError("no AWS region: set `region` under [providers.aws] in nbctl's "
                         "config.toml, or AWS_DEFAULT_REGION")
    return None


def once(fn: Callable[..., T], *args, action: str = "", **kwargs) -> T:
    """One boto3 call, its failures translated through the table (not retried here)."""
    return faults.once(partial(translate, fn=fn, action=action), fn, *args, **kwargs)


def call(fn: Callable[..., T], *args, action: str = "", **kwargs) -> T:
    """One boto3 call under the retry policy: only TransientError is retried."""
    return faults.call(partial(translate, fn=fn, action=action), fn, *args, **kwargs)
