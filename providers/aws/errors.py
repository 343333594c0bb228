"""AWS error classification: one table from the cloud's error codes to nbctl's taxonomy.

AWS reports a failure as an error code plus a message (botocore's ClientError:
`response["Error"]["Code"|"Message"]`, the HTTP status in `ResponseMetadata`). The table is
read top to bottom; the first matching row decides. Nothing here imports boto3 at module level.

botocore's own retries are turned off in clients.py (`total_max_attempts=1`), so that the one
policy of nbctl_cloud.retry is the only one retrying, and only what this table calls transient.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, TypeVar

from nbctl_cloud import retry
from nbctl_cloud.errors import (
    AuthError,
    CapacityError,
    NbctlError,
    NotFound,
    QuotaError,
    Scope,
    TransientError,
    UserError,
)

T = TypeVar("T")


@dataclass(frozen=True)
class Fault:
    """One AWS failure: its code, message, HTTP status and the operation that failed."""

    code: str
    message: str
    http_status: int | None = None
    service: str = ""
    operation: str = ""


@dataclass(frozen=True)
class Row:
    """A table row: every criterion given must hold for the row to match."""

    name: str
    error: type[NbctlError]
    scope: Scope | None = None
    codes: frozenset[str] = frozenset()
    pattern: str | None = None
    http: frozenset[int] = frozenset()

    def matches(self, f: Fault) -> bool:
        if self.codes and f.code not in self.codes:
            return False
        if self.http and f.http_status not in self.http:
            return False
        if self.pattern and not re.search(self.pattern, f.message, re.IGNORECASE):
            return False
        return bool(self.codes or self.http or self.pattern)


def _codes(*names: str) -> frozenset[str]:
    return frozenset(names)


TABLE: tuple[Row, ...] = (
    Row("zone-capacity", CapacityError, Scope.ZONE,
        codes=_codes("InsufficientInstanceCapacity", "InsufficientHostCapacity",
                     "InsufficientCapacity", "InsufficientReservedInstanceCapacity")),
    Row("spot-price", CapacityError, Scope.ZONE, codes=_codes("SpotMaxPriceTooLow")),
    Row("type-not-in-zone", CapacityError, Scope.ZONE, codes=_codes("Unsupported"),
        pattern=r"not supported in your requested Availability Zone"),
    Row("capacity-text", CapacityError, Scope.ZONE,
        pattern=r"insufficient capacity|capacity[- ]not[- ]available"),
    Row("throttled", TransientError,
        codes=_codes("RequestLimitExceeded", "Throttling", "ThrottlingException",
                     "TooManyRequestsException", "RequestThrottled",
                     "RequestThrottledException", "PriorRequestNotComplete", "SlowDown")),
    Row("server-error", TransientError,
        codes=_codes("InternalError", "InternalFailure", "InternalServerError",
                     "InternalServerException", "ServiceUnavailable",
                     "ServiceUnavailableException", "Unavailable")),
    Row("changing-state", TransientError, codes=_codes("IncorrectInstanceState")),
    Row("http-5xx", TransientError, http=frozenset({500, 502, 503, 504})),
    Row("permission", AuthError,
        codes=_codes("UnauthorizedOperation", "AccessDenied", "AccessDeniedException")),
    Row("credentials", AuthError,
        codes=_codes("AuthFailure", "ExpiredToken", "ExpiredTokenException",
                     "InvalidClientTokenId", "UnrecognizedClientException",
                     "SignatureDoesNotMatch")),
    Row("quota", QuotaError, Scope.REGION,
        codes=_codes("ResourceLimitExceeded", "VcpuLimitExceeded",
                     "MaxSpotInstanceCountExceeded", "InstanceLimitExceeded",
                     "ServiceQuotaExceededException")),
    Row("not-found", NotFound,
        codes=_codes("NoSuchEntity", "ResourceNotFound", "ResourceNotFoundException",
                     "InvalidInstanceID.NotFound")),
    Row("record-not-found", NotFound, codes=_codes("ValidationException"),
        pattern=r"RecordNotFound|does not exist"),
    Row("bad-image", UserError, codes=_codes("InvalidAMIID.NotFound", "InvalidAMIID.Malformed")),
    Row("bad-input", UserError,
        codes=_codes("ValidationException", "InvalidParameterValue", "InvalidParameter",
                     "InvalidParameterCombination", "MissingParameter",
                     "IdempotentParameterMismatch", "ConflictException")),
)

_PERMISSION_RE = re.compile(r"not authorized to perform:? ([\w-]+:[\w*]+)")


def permission_of(f: Fault) -> str:
    """The IAM action refused: from the message, else the operation that was refused."""
    m = _PERMISSION_RE.search(f.message)
    if m:
        return m.group(1)
    if f.service and f.operation:
        return f"{f.service}:{f.operation}"
    return "the missing permission"


def row_for(f: Fault) -> Row | None:
    return next((row for row in TABLE if row.matches(f)), None)


def to_error(f: Fault, *, action: str = "") -> NbctlError:
    """The nbctl error for a fault, with a message that says what to do."""
    row = row_for(f)
    what = f"{action}: " if action else ""
    if row is None:
        return NbctlError(f"{what}AWS error {f.code}: {f.message}", code=f.code)
    msg = f"{what}{f.code}: {f.message}"
    if row.name == "permission":
        msg = (f"{what}AWS refused {permission_of(f)} ({f.code}); allow the IAM action "
               f"{permission_of(f)} for the credentials nbctl uses (AWS_PROFILE or the default "
               f"credential chain)")
    elif row.name == "credentials":
        msg = (f"{what}AWS rejected the credentials ({f.code}: {f.message}); refresh them "
               f"(`aws sso login`, `aws configure`) or set AWS_PROFILE")
    elif row.error is QuotaError:
        msg = (f"{what}{f.code}: {f.message}; raise the quota in the Service Quotas console "
               f"for this region")
    elif row.error is CapacityError:
        msg = f"{what}no capacity ({f.code}): {f.message}"
    return row.error(msg, scope=row.scope, code=f.code)


def fault_from_client_error(exc) -> Fault:
    """From a botocore.exceptions.ClientError."""
    response = getattr(exc, "response", None) or {}
    err = response.get("Error") or {}
    meta = response.get("ResponseMetadata") or {}
    service = ""
    model = getattr(exc, "operation_name", "") or ""
    return Fault(code=str(err.get("Code") or ""), message=str(err.get("Message") or exc),
                 http_status=meta.get("HTTPStatusCode"), service=service, operation=model)


# -- calling the SDK -----------------------------------------------------------------------
def once(fn: Callable[..., T], *args, action: str = "", **kwargs) -> T:
    """One boto3 call, its failures translated through the table (not retried here)."""
    from botocore import exceptions as bexc

    try:
        return fn(*args, **kwargs)
    except bexc.ClientError as e:
        fault = fault_from_client_error(e)
        prefix = getattr(getattr(fn, "__self__", None), "meta", None)
        if prefix is not None:
            fault = Fault(fault.code, fault.message, fault.http_status,
                          prefix.service_model.signing_name, fault.operation)
        raise to_error(fault, action=action) from None
    except (bexc.EndpointConnectionError, bexc.ConnectTimeoutError, bexc.ReadTimeoutError,
            bexc.ConnectionClosedError) as e:
        raise TransientError(f"{what_of(action)}cannot reach AWS ({e})") from None
    except bexc.NoCredentialsError:
        raise AuthError("no AWS credentials found: run `aws configure` or `aws sso login`, "
                        "or set AWS_PROFILE / AWS_ACCESS_KEY_ID") from None
    except bexc.NoRegionError:
        raise UserError("no AWS region: set `region` under [providers.aws] in nbctl's "
                        "config.toml, or AWS_DEFAULT_REGION") from None


def what_of(action: str) -> str:
    return f"{action}: " if action else ""


def call(fn: Callable[..., T], *args, action: str = "", **kwargs) -> T:
    """One boto3 call under the retry policy: only TransientError is retried."""
    return retry.call(once, fn, *args, action=action, **kwargs)
