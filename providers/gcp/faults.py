"""GCP error classification: Google's own words as rows of nbctl's one fault table.

Google reports failures in three shapes, all reduced here to one `Fault` (nbctl_cloud.faults):
- an HTTP error (google.api_core.exceptions.GoogleAPICallError): the status, `error.errors[]`
  reasons (Compute Engine), `error.status` and an ErrorInfo detail (Notebooks);
- a finished Compute Engine operation with `error.errors[]` ({code, message, errorDetails});
- a finished Notebooks long-running operation with a google.rpc.Status `error` {code, message}.

The table is read top to bottom; the first matching row decides. Nothing here imports the SDK
at module level.
"""
from __future__ import annotations

import re
from functools import partial
from typing import Callable, TypeVar

from nbctl_cloud import errors, faults
from nbctl_cloud.faults import Fault, Row

T = TypeVar("T")

# google.rpc.Code numbers -> the HTTP status Google maps them to (for Notebooks LRO errors).
RPC_TO_HTTP = {1: 499, 2: 500, 3: 400, 4: 504, 5: 404, 6: 409, 7: 403, 8: 429, 9: 400,
               10: 409, 11: 400, 12: 501, 13: 500, 14: 503, 15: 500, 16: 401}

_NO_CAPACITY = "no capacity: {message}"
_RAISE_QUOTA = "raise the quota in the console (IAM & Admin > Quotas)"

TABLE = faults.FaultTable(
    rows=(
        Row("zone-stockout", errors.CapacityError, errors.Scope.ZONE, said=_NO_CAPACITY,
            codes=("ZONE_RESOURCE_POOL_EXHAUSTED", "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS")),
        Row("stockout-text", errors.CapacityError, errors.Scope.ZONE, said=_NO_CAPACITY,
            pattern=r"does not have enough resources available|ZONE_RESOURCE_POOL_EXHAUSTED"),
        Row("accelerator-not-in-zone", errors.CapacityError, errors.Scope.ZONE,
            said=_NO_CAPACITY,
            pattern=r"accelerator type .* does not exist in zone|acceleratorType.*does not exist"),
        Row("gpus-all-regions-quota", errors.QuotaError, errors.Scope.GLOBAL,
            pattern=r"GPUS_ALL_REGIONS", fix=_RAISE_QUOTA),
        Row("regional-quota", errors.QuotaError, errors.Scope.REGION,
            codes=("QUOTA_EXCEEDED", "quotaExceeded"), fix=_RAISE_QUOTA),
        Row("quota-text", errors.QuotaError, errors.Scope.REGION,
            pattern=r"Quota '[\w-]+' exceeded", fix=_RAISE_QUOTA),
        Row("rate-limit", errors.TransientError,
            codes=("rateLimitExceeded", "userRateLimitExceeded", "RATE_LIMIT_EXCEEDED",
                   "RESOURCE_OPERATION_RATE_EXCEEDED")),
        Row("too-many-requests", errors.TransientError, http=(429,)),
        Row("server-error", errors.TransientError, http=(500, 502, 503, 504)),
        Row("unauthenticated", errors.AuthError, http=(401,),
            said="GCP credentials were rejected ({message})",
            fix="run `gcloud auth application-default login` or set "
                "GOOGLE_APPLICATION_CREDENTIALS"),
        Row("permission-denied", errors.AuthError, http=(403,),
            said="GCP refused the request ({message})",
            fix="grant {need} to the account in your Application Default Credentials "
                "(gcloud auth application-default login)"),
        Row("not-found", errors.NotFound, http=(404,)),
        Row("in-use", errors.UserError, code="resourceInUseByAnotherResource",
            codes=("resourceInUseByAnotherResource", "RESOURCE_IN_USE_BY_ANOTHER_RESOURCE")),
        Row("already-exists", errors.UserError, http=(409,), code="alreadyExists"),
        Row("bad-request", errors.UserError, http=(400,)),
    ),
    unmatched="GCP error: {message}",
    fields=lambda f: {"need": _need(f)},
)

_PERMISSION_RES = (r"Required '([\w.]+)' permission", r"Permission '([\w.]+)' denied",
                   r"permission '?([\w]+\.[\w.]+)'?")


def permission_of(f: Fault) -> str | None:
    """The IAM permission the cloud says is missing, from ErrorInfo or the message."""
    if f.details.get("permission"):
        return str(f.details["permission"])
    for rx in _PERMISSION_RES:
        m = re.search(rx, f.message)
        if m:
            return m.group(1)
    return None


def _need(f: Fault) -> str:
    perm = permission_of(f)
    return f"the permission {perm}" if perm else "the missing permission"


row_for = TABLE.row_for
to_error = TABLE.to_error


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
                 details=dict(getattr(exc, "metadata", None) or {}))


def fault_from_json(status: int, body: bytes) -> Fault:
    """From an HTTP error answer read without the SDK: Google's JSON error (`error.message`,
    `errors[].reason`, `status`, an ErrorInfo's reason and metadata), as fault_from_http reads
    it from the SDK's exception."""
    import json
    try:
        error = json.loads(body or b"{}").get("error") or {}
    except (ValueError, AttributeError):
        error = {}
    if not isinstance(error, dict):
        error = {}
    codes = [str(e["reason"]) for e in error.get("errors") or () if isinstance(e, dict)
             and e.get("reason")]
    details: dict = {}
    for d in error.get("details") or ():
        if isinstance(d, dict) and str(d.get("@type", "")).endswith("google.rpc.ErrorInfo"):
            codes += [str(d["reason"])] if d.get("reason") else []
            details.update(d.get("metadata") or {})
    codes += [str(error["status"])] if error.get("status") else []
    return Fault(message=str(error.get("message") or f"HTTP {status}"), http_status=status,
                 codes=tuple(codes), details=details)


def fault_from_gce_operation(op) -> Fault:
    """From a DONE compute_v1 Operation whose `error.errors[]` is not empty."""
    errs = list(op.error.errors) if op.error else []
    codes = tuple(e.code for e in errs if e.code)
    message = "; ".join(e.message for e in errs if e.message) or op.http_error_message or "failed"
    details: dict = {}
    for e in errs:
        for d in getattr(e, "error_details", None) or ():
            if d.quota_info and d.quota_info.metric_name:
                details.setdefault("quota", d.quota_info.metric_name)
            if d.error_info and d.error_info.metadatas:
                details.update(dict(d.error_info.metadatas))
    http = op.http_error_status_code or None
    return Fault(message=message, http_status=http, codes=codes, details=details)


def fault_from_rpc_status(code: int, message: str, details: dict | None = None) -> Fault:
    """From a google.rpc.Status (a Notebooks operation's `error`)."""
    return Fault(message=message or f"rpc code {code}", http_status=RPC_TO_HTTP.get(code),
                 codes=(), details=dict(details or {}))


# -- calling the SDK -----------------------------------------------------------------------
def translate(exc: Exception, action: str = "") -> errors.NbctlError | None:
    """nbctl's error for what a Google client call raised, or None for anything else."""
    import requests
    from google.api_core import exceptions as gexc

    if isinstance(exc, gexc.GoogleAPICallError):
        return to_error(fault_from_http(exc), action=action)
    if isinstance(exc, (requests.ConnectionError, requests.Timeout)):
        text = f"cannot reach the GCP endpoint ({exc})"
        return errors.TransientError(faults.prefixed(action, text))
    return None


def once(fn: Callable[..., T], *args, action: str = "", **kwargs) -> T:
    """One SDK call, its failures translated through the table (not retried here)."""
    return faults.once(partial(translate, action=action), fn, *args, **kwargs)


def call(fn: Callable[..., T], *args, action: str = "", **kwargs) -> T:
    """One SDK call under the retry policy: only TransientError (429, 5xx) is retried."""
    return faults.call(partial(translate, action=action), fn, *args, **kwargs)
