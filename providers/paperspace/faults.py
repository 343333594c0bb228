"""Paperspace error classification: one table from the API's answer to nbctl's taxonomy.

Every API v1 error has the documented shape `{"message": str, "code": str, "details"?: obj}`
(components.responses.error in https://api.paperspace.com/v1/openapi.json); `code` carries
tRPC-style names such as UNAUTHORIZED, NOT_FOUND, BAD_REQUEST, TOO_MANY_REQUESTS. The
stockout sentence is the one Paperspace shows users ("We are currently out of capacity for the
selected VM type. Try again in a few minutes, or select a different instance.").

The table is read top to bottom; the first matching row decides. Nothing here imports httpx.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

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

KEY_ENV = "PAPERSPACE_API_KEY"
KEY_HINT = (f"set {KEY_ENV} to a valid API key (https://console.paperspace.com/settings/apikeys) "
            f"or api_key under [providers.paperspace] in nbctl's config.toml")


@dataclass(frozen=True)
class Row:
    """A table row: every criterion given must hold for the row to match."""

    name: str
    error: type[NbctlError]
    scope: Scope | None = None
    http: frozenset[int] = frozenset()
    codes: frozenset[str] = frozenset()
    pattern: str | None = None
    advice: str = ""

    def matches(self, status: int, code: str, message: str) -> bool:
        if self.http and status not in self.http:
            return False
        if self.codes and code not in self.codes:
            return False
        if self.pattern and not re.search(self.pattern, message, re.IGNORECASE):
            return False
        return bool(self.http or self.codes or self.pattern)


_CLIENT = frozenset({400, 409, 422})
_5XX = frozenset({500, 502, 503, 504})

TABLE: tuple[Row, ...] = (
    Row("out-of-capacity", CapacityError, Scope.ZONE, http=_CLIENT | _5XX,
        pattern=r"out of capacity|no capacity|insufficient capacity|"
                r"not (currently )?available in (this|the selected) region",
        advice="try another --zone/--region or another GPU"),
    Row("machine-limit", QuotaError, Scope.GLOBAL, http=_CLIENT | frozenset({403}),
        pattern=r"machine limit|maximum number of machines|max machines",
        advice="delete unused machines or ask Paperspace support to raise the team's limit"),
    Row("unauthenticated", AuthError, http=frozenset({401}), advice=KEY_HINT),
    Row("forbidden", AuthError, http=frozenset({403}),
        advice=f"use a key of a team that may manage machines: {KEY_HINT}"),
    Row("not-found", NotFound, http=frozenset({404})),
    Row("rate-limited", TransientError, http=frozenset({429})),
    Row("server-error", TransientError, http=_5XX),
    # A start or stop sent while the machine is between states: try again shortly.
    Row("busy", TransientError, http=_CLIENT,
        pattern=r"currently (starting|stopping|restarting|provisioning|upgrading)"),
    Row("bad-request", UserError, http=_CLIENT,
        advice="check --gpu, --region/--zone, --disk-gb and the template_id setting"),
)


def classify(status: int, payload: object, *, what: str = "Paperspace API") -> NbctlError:
    """The nbctl error for an HTTP error answer (payload: the parsed JSON body, if any)."""
    message, code = _words(payload)
    for row in TABLE:
        if row.matches(status, code, message):
            text = f"{what}: {message or 'HTTP ' + str(status)}"
            if row.advice:
                text += f"; {row.advice}"
            return row.error(text, scope=row.scope, code=code or str(status))
    return NbctlError(f"{what}: HTTP {status}: {message or 'no details'}", code=code or str(status))


def _words(payload: object) -> tuple[str, str]:
    if isinstance(payload, dict):
        return str(payload.get("message") or ""), str(payload.get("code") or "")
    return "", ""
