"""Colab Enterprise error classification: Vertex AI's answers as rows of nbctl's one fault table.

NotebookService reports failures as Google's other APIs do (an HTTP error with a
google.rpc.Status body, or a finished long-running operation whose `error` is one), so they are
reduced to a `Fault` by the GCP provider's readers. Its own words decide the rows:
- no capacity: "Resources are insufficient in region: R. Please try a different region."
  (Vertex AI's troubleshooting page, cloud.google.com/vertex-ai/docs/general/troubleshooting);
- a regional GPU quota: "Quota 'NVIDIA_T4_GPUS' exceeded. Limit: 0.0 in region R." with an
  ErrorInfo reason QUOTA_EXCEEDED. A region is this provider's failover unit, and the quota
  is the region's own, so it moves `up` on to the next allowed region like a stockout does
  (with the quota to raise in its words); a quota over all regions (GPUS_ALL_REGIONS) stops it.

The table is read top to bottom; the first matching row decides. Nothing here imports the SDK
at module level.
"""
from __future__ import annotations

from functools import partial
from typing import Callable, TypeVar

from nbctl_cloud import errors, faults
from nbctl_cloud.faults import Fault, Row
from nbctl_cloud.providers.gcp.faults import fault_from_http, fault_from_rpc_status, permission_of

T = TypeVar("T")

_RAISE_QUOTA = "raise the quota in the console (IAM & Admin > Quotas)"
_ADC = ("run `gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS")

TABLE = faults.FaultTable(
    rows=(
        Row("region-stockout", errors.CapacityError, errors.Scope.REGION,
            said="no capacity: {message}",
            pattern=r"Resources are insufficient in region|ZONE_RESOURCE_POOL_EXHAUSTED"),
        Row("gpus-all-regions-quota", errors.QuotaError, errors.Scope.GLOBAL,
            pattern=r"GPUS_ALL_REGIONS", fix=_RAISE_QUOTA),
        Row("regional-quota", errors.CapacityError, errors.Scope.REGION,
            said="no quota: {message}", codes=("QUOTA_EXCEEDED",),
            fix=_RAISE_QUOTA + ", or allow another region with --zone"),
        Row("regional-quota-text", errors.CapacityError, errors.Scope.REGION,
            said="no quota: {message}", pattern=r"Quota '[\w-]+' exceeded",
            fix=_RAISE_QUOTA + ", or allow another region with --zone"),
        Row("not-settled", errors.UserError, codes=("FAILED_PRECONDITION",),
            fix="wait until the runtime is RUNNING or STOPPED (`nbctl status --refresh`) and "
                "try again"),
        Row("too-many-requests", errors.TransientError, http=(429,)),
        Row("server-error", errors.TransientError, http=(500, 502, 503, 504)),
        Row("unauthenticated", errors.AuthError, http=(401,),
            said="Google Cloud credentials were rejected ({message})", fix=_ADC),
        Row("permission-denied", errors.AuthError, http=(403,),
            said="Vertex AI refused the request ({message})",
            fix="grant {need} (the Colab Enterprise User role, roles/aiplatform."
                "colabEnterpriseUser, has it) to the account of your Application Default "
                "Credentials"),
        Row("not-found", errors.NotFound, http=(404,)),
        Row("already-exists", errors.UserError, http=(409,), code="alreadyExists"),
        Row("bad-request", errors.UserError, http=(400,)),
    ),
    unmatched="Vertex AI error: {message}",
    fields=lambda f: {"need": _need(f)},
)


def _need(f: Fault) -> str:
    perm = permission_of(f)
    return f"the permission {perm}" if perm else "the missing permission"


to_error = TABLE.to_error


def operation_fault(status) -> Fault:
    """From a finished operation's `error` (a google.rpc.Status): its ErrorInfo reason, where
    it names one, is a code."""
    fault = fault_from_rpc_status(status.code, status.message)
    reasons = []
    for detail in status.details:
        if detail.type_url.endswith("google.rpc.ErrorInfo"):
            from google.rpc import error_details_pb2
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reasons.append(info.reason)
    return Fault(message=fault.message, http_status=fault.http_status, codes=tuple(reasons))


def translate(exc: Exception, action: str = "") -> errors.NbctlError | None:
    """nbctl's error for what a client call raised, or None for anything else."""
    import requests
    from google.api_core import exceptions as gexc

    if isinstance(exc, gexc.GoogleAPICallError):
        return to_error(fault_from_http(exc), action=action)
    if isinstance(exc, (requests.ConnectionError, requests.Timeout)):
        text = f"cannot reach the Vertex AI endpoint ({exc})"
        return errors.TransientError(faults.prefixed(action, text))
    return None


def call(fn: Callable[..., T], *args, action: str = "", **kwargs) -> T:
    """One client call under the retry policy: only TransientError (429, 5xx) is retried."""
    return faults.call(partial(translate, action=action), fn, *args, **kwargs)
