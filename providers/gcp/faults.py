"""GCP error classification: one table from the cloud's own words to nbctl's error taxonomy.

Google reports failures in three shapes, all reduced here to one `Fault`:
- an HTTP error (google.api_core.exceptions.GoogleAPICallError): the status, `error.errors[]`
  reasons (Compute Engine), `error.status` and an ErrorInfo detail (Notebooks);
- a finished Compute Engine operation with `error.errors[]` ({code, message, errorDetails});
- a finished Notebooks long-running operation with a google.rpc.Status `error` {code, message}.

The table is read top to bottom; the first matching row decides. Nothing here imports the SDK.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
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

# google.rpc.Code numbers -> the HTTP status Google maps them to (for Notebooks LRO errors).
RPC_TO_HTTP = {1: 499, 2: 500, 3: 400, 4: 504, 5: 404, 6: 409, 7: 403, 8: 429, 9: 400,
               10: 409, 11: 400, 12: 501, 13: 500, 14: 503, 15: 500, 16: 401}


@dataclass(frozen=True)
class Fault:
    """One failure, whatever shape it came in."""

    message: str
    http_status: int | None = None
    codes: tuple[str, ...] = ()  # op error codes, errors[].reason, ErrorInfo reason, rpc status
    metadata: dict = field(default_factory=dict)  # ErrorInfo metadata (permission, quota ...)


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
        if self.codes and not self.codes.intersection(f.codes):
            return False
        if self.http and f.http_status not in self.http:
            return False
        if self.pattern and not re.search(self.pattern, f.message, re.IGNORECASE):
            return False
        return bool(self.codes or self.http or self.pattern)


_5XX = frozenset({500, 502, 503, 504})

TABLE: tuple[Row, ...] = (
    Row("zone-stockout", CapacityError, Scope.ZONE,
        codes=frozenset({"ZONE_RESOURCE_POOL_EXHAUSTED", "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS"})),
    Row("stockout-text", CapacityError, Scope.ZONE,
        pattern=r"does not have enough resources available|ZONE_RESOURCE_POOL_EXHAUSTED"),
    Row("accelerator-not-in-zone", CapacityError, Scope.ZONE,
        pattern=r"accelerator type .* does not exist in zone|acceleratorType.*does not exist"),
    Row("gpus-all-regions-quota", QuotaError, Scope.GLOBAL, pattern=r"GPUS_ALL_REGIONS"),
    Row("regional-quota", QuotaError, Scope.REGION, codes=frozenset({"QUOTA_EXCEEDED", "quotaExceeded"})),
    Row("quota-text", QuotaError, Scope.REGION, pattern=r"Quota '[\w-]+' exceeded"),
    Row("rate-limit", TransientError,
        codes=frozenset({"rateLimitExceeded", "userRateLimitExceeded", "RATE_LIMIT_EXCEEDED",
                         "RESOURCE_OPERATION_RATE_EXCEEDED"})),
    Row("too-many-requests", TransientError, http=frozenset({429})),
    Row("server-error", TransientError, http=_5XX),
    Row("unauthenticated", AuthError, http=frozenset({401})),
    Row("permission-denied", AuthError, http=frozenset({403})),
    Row("not-found", NotFound, http=frozenset({404})),
    Row("in-use", UserError,
        codes=frozenset({"resourceInUseByAnotherResource", "RESOURCE_IN_USE_BY_ANOTHER_RESOURCE"})),
    Row("already-exists", UserError, http=frozenset({409})),
    Row("bad-request", UserError, http=frozenset({400})),
)

_PERMISSION_RES = (r"Required '([\w.]+)' permission", r"Permission '([\w.]+)' denied",
                   r"permission '?([\w]+\.[\w.]+)'?")


def permission_of(f: Fault) -> str | None:
    """The IAM permission the cloud says is missing, from ErrorInfo or the message."""
    if f.metadata.get("permission"):
        return str(f.metadata["permission"])
    for rx in _PERMISSION_RES:
        m = re.search(rx, f.message)
        if m:
            return m.group(1)
    return None


def row_for(f: Fault) -> Row | None:
    return next((row for row in TABLE if row.matches(f)), None)


def to_error(f: Fault, *, action: str = "") -> NbctlError:
    """The nbctl error for a fault, with a message that says what to do."""
    row = row_for(f)
    what = f"{action}: " if action else ""
    code = next(iter(f.codes), None)
    if row is None:
        return NbctlError(f"{what}GCP error: {f.message}", code=code)
    msg = f"{what}{f.message}"
    if row.name == "permission-denied":
        perm = permission_of(f)
        need = f"the permission {perm}" if perm else "the missing permission"
        msg = (f"{what}GCP refused the request ({f.message}); grant {need} to the account "
               f"in your Application Default Credentials (gcloud auth application-default login)")
    elif row.name == "unauthenticated":
        msg = (f"{what}GCP credentials were rejected ({f.message}); run "
               f"`gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS")
    elif row.error is QuotaError:
        msg = f"{what}{f.message}; raise the quota in the console (IAM & Admin > Quotas)"
    elif row.error is CapacityError:
        msg = f"{what}no capacity: {f.message}"
    if row.name == "in-use":
        code = "resourceInUseByAnotherResource"
    elif row.name == "already-exists":
        code = "alreadyExists"
    return row.error(msg, scope=row.scope, code=code)


# -- reducing each shape to a Fault --------------------------------------------------------
def fault_from_http(exc) -> Fault:
    """From a google.api_core.exceptions.GoogleAPICallError."""
    codes: list[str] = []
    for e in getattr(exc, "errors", None) or ():
        if isinstance(e, dict) and e.get("reason"):
            codes.append(str(e["reason"]))
    if getattr(exc, "reason", None):
        codes.append(str(exc.reason))
    status = None
    response = getattr(exc, "response", None)
    if response is not None:
        try:
            status = (response.json().get("error") or {}).get("status")
        except ValueError:  # a body that is not JSON: the status code alone decides
            status = None
    if status:
        codes.append(str(status))
    http = exc.code if isinstance(getattr(exc, "code", None), int) else None
    return Fault(message=str(getattr(exc, "message", exc)), http_status=http, codes=tuple(codes),
                 metadata=dict(getattr(exc, "metadata", None) or {}))


def fault_from_gce_operation(op) -> Fault:
    """From a DONE compute_v1 Operation whose `error.errors[]` is not empty."""
    errs = list(op.error.errors) if op.error else []
    codes = tuple(e.code for e in errs if e.code)
    message = "; ".join(e.message for e in errs if e.message) or op.http_error_message or "failed"
    meta: dict = {}
    for e in errs:
        for d in getattr(e, "error_details", None) or ():
            if d.quota_info and d.quota_info.metric_name:
                meta.setdefault("quota", d.quota_info.metric_name)
            if d.error_info and d.error_info.metadatas:
                meta.update(dict(d.error_info.metadatas))
    http = op.http_error_status_code or None
    return Fault(message=message, http_status=http, codes=codes, metadata=meta)


def fault_from_rpc_status(code: int, message: str, details: dict | None = None) -> Fault:
    """From a google.rpc.Status (a Notebooks operation's `error`)."""
    return Fault(message=message or f"rpc code {code}", http_status=RPC_TO_HTTP.get(code),
                 codes=(), metadata=dict(details or {}))


# -- calling the SDK -----------------------------------------------------------------------
def once(fn: Callable[..., T], *args, action: str = "", **kwargs) -> T:
    """One SDK call, its failures translated through the table (not retried here)."""
    import requests
    from google.api_core import exceptions as gexc

    try:
        return fn(*args, **kwargs)
    except gexc.GoogleAPICallError as e:
        raise to_error(fault_from_http(e), action=action) from None
    except (requests.ConnectionError, requests.Timeout) as e:
        raise TransientError(f"{action}: cannot reach the GCP endpoint ({e})" if action
                             else f"cannot reach the GCP endpoint ({e})") from None


def call(fn: Callable[..., T], *args, action: str = "", **kwargs) -> T:
    """One SDK call under the retry policy: only TransientError (429, 5xx) is retried."""
    return retry.call(once, fn, *args, action=action, **kwargs)
