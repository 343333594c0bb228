"""Paperspace error classification: the API's answers as rows of nbctl's one fault table.

Every API v1 error has the documented shape `{"message": str, "code": str, "details"?: obj}`
(components.responses.error in https://api.paperspace.com/v1/openapi.json); `code` carries
tRPC-style names such as UNAUTHORIZED, NOT_FOUND, BAD_REQUEST, TOO_MANY_REQUESTS. The
stockout sentence is the one Paperspace answered users ("We are currently out of capacity for
the selected VM type. Try again in a few minutes, or select a different instance.",
github.com/Paperspace/gradient-cli issue #327). Other messages are not documented, so rows
match on the HTTP status; a start or stop refused between states is recognised by the
machine's own state (machines.py), not by words.

The table is read top to bottom; the first matching row decides (nbctl_cloud.faults). Nothing
here imports httpx at module level.
"""
from __future__ import annotations

from nbctl_cloud import errors
from nbctl_cloud.faults import Fault, FaultTable, Row

KEY_ENV = "PAPERSPACE_API_KEY"
KEY_HINT = (f"set {KEY_ENV} to a valid API key (https://console.paperspace.com/settings/apikeys) "
            f"or api_key under [providers.paperspace] in nbctl's config.toml")

_CLIENT = frozenset({400, 409, 422})
_5XX = frozenset({500, 502, 503, 504})


def _fields(f: Fault) -> dict:
    # An answer without a body still says its status; the code nbctl reports falls back to it.
    return {"code": f.code or str(f.http_status), "answer": f.message or f"HTTP {f.http_status}",
            "details": f.message or "no details"}


TABLE = FaultTable(
    rows=(
        Row("out-of-capacity", errors.CapacityError, errors.Scope.ZONE, http=_CLIENT | _5XX,
            pattern=r"out of capacity",
            fix="try another --zone/--region or another GPU"),
        Row("machine-limit", errors.QuotaError, errors.Scope.GLOBAL, http=_CLIENT | {403},
            pattern=r"machine limit|maximum number of machines|max machines",
            fix="delete unused machines or ask Paperspace support to raise the team's limit"),
        Row("unauthenticated", errors.AuthError, http=(401,), fix=KEY_HINT),
        Row("forbidden", errors.AuthError, http=(403,),
            fix=f"use a key of a team that may manage machines: {KEY_HINT}"),
        Row("not-found", errors.NotFound, http=(404,)),
        Row("rate-limited", errors.TransientError, http=(429,)),
        Row("server-error", errors.TransientError, http=_5XX),
        Row("bad-request", errors.UserError, http=_CLIENT,
            fix="check --gpu, --region/--zone, --disk-gb and the template_id setting"),
    ),
    said="{answer}",
    unmatched="HTTP {status}: {details}",
    fields=_fields,
)


def fault_from_answer(status: int, payload: object) -> Fault:
    """From an HTTP error answer (payload: the parsed JSON body, if any)."""
    if isinstance(payload, dict):
        code = str(payload.get("code") or "")
        return Fault(message=str(payload.get("message") or ""), http_status=status,
                     codes=(code,) if code else ())
    return Fault(message="", http_status=status)


def classify(status: int, payload: object, *, what: str = "Paperspace API") -> errors.NbctlError:
    """The nbctl error for an HTTP error answer (payload: the parsed JSON body, if any)."""
    return TABLE.to_error(fault_from_answer(status, payload), action=what)


def translate(exc: Exception) -> errors.NbctlError | None:
    """nbctl's error for what httpx raised on the way (timeouts, resets), or None."""
    import httpx

    if isinstance(exc, httpx.TransportError):  # connect/read timeouts, resets: worth another try
        return errors.TransientError(f"Paperspace API unreachable ({type(exc).__name__}: {exc})")
    return None
