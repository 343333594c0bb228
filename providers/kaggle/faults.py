"""Kaggle's errors as rows of nbctl's one fault table.

kagglesdk raises requests' HTTPError for an answer whose JSON has a `code` of 400 or more (its
message the answer's `message`), or for a non-JSON error answer (kagglesdk/kaggle_http_client.py,
`_prepare_response`); the status is the HTTP one. Kaggle's texts are not documented, so rows
match on the status. A refused push is not an error answer: SaveKernel answers 200 with `error`
(the kaggle CLI prints it), and the provider reads it there. Nothing here imports requests at
module level.
"""
from __future__ import annotations

from nbctl_cloud import errors
from nbctl_cloud.faults import Fault, FaultTable, Row

from .settings import CREDENTIALS_HINT

_5XX = frozenset({500, 502, 503, 504})

TABLE = FaultTable(
    rows=(
        Row("unauthenticated", errors.AuthError, http=(401,),
            said="Kaggle refused the credentials", fix=CREDENTIALS_HINT),
        Row("forbidden", errors.AuthError, http=(403,),
            fix=f"the Kaggle user may not do this; {CREDENTIALS_HINT}"),
        Row("not-found", errors.NotFound, http=(404,)),
        Row("rate-limited", errors.TransientError, http=(429,)),
        Row("server-error", errors.TransientError, http=_5XX),
        Row("bad-request", errors.UserError, http=(400, 409, 422),
            fix="check --gpu and the [providers.kaggle] settings"),
    ),
    said="{answer}",
    unmatched="HTTP {status}: {answer}",
    fields=lambda f: {"answer": f.message or f"HTTP {f.http_status}"},
)


def translate(what: str):
    """A translate function (nbctl_cloud.faults) for kagglesdk's and requests' exceptions,
    naming `what` was being done."""
    def to_error(exc: Exception) -> errors.NbctlError | None:
        import requests

        if isinstance(exc, requests.HTTPError):
            status = exc.response.status_code if exc.response is not None else None
            return TABLE.to_error(Fault(message=str(exc), http_status=status), action=what)
        if isinstance(exc, (requests.ConnectionError, requests.Timeout)):
            return errors.TransientError(f"{what}: Kaggle's API is unreachable "
                                         f"({type(exc).__name__})")
        return None
    return to_error
