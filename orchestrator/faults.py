"""The one fault-table machinery: a cloud's failure, reduced to a `Fault`, becomes nbctl's error.

Each provider fills in a `FaultTable`: its rows (code(s) and/or message pattern and/or HTTP
status(es) -> error class -> failover scope -> the user's fix) and how it words a message. The
table is read top to bottom; the first row whose every given criterion holds decides. A fault
no row matches becomes a plain NbctlError (not retried) in the provider's words.

Running an SDK call: `once(translate, fn, ...)` turns what fn raises into nbctl's error through
the provider's `translate`; `call` does the same under the one retry policy (nbctl_cloud.retry),
which retries only TransientError. This module imports no cloud SDK: the providers' translate
functions import theirs, lazily.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, TypeVar

from . import retry
from .errors import NbctlError, Scope

T = TypeVar("T")

# What a provider supplies to read its SDK's exceptions: an nbctl error, or None for one it
# does not know (which then propagates unchanged).
Translate = Callable[[Exception], "NbctlError | None"]


@dataclass(frozen=True)
class Fault:
    """One failure, whatever shape the cloud sent it in: its words, HTTP status, the cloud's
    codes (error codes, reasons, rpc status names) and any structured details it named."""

    message: str
    http_status: int | None = None
    codes: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def code(self) -> str | None:
        """The cloud's main code for this failure (the first one), or None."""
        return self.codes[0] if self.codes else None


@dataclass(frozen=True)
class Row:
    """A table row: every criterion given must hold for the row to match, and a row must give
    at least one (codes and statuses as any iterable). `said` (else the table's) and `fix` are
    str.format templates over the table's fields; `code`, where given, is the code the error
    carries instead of the cloud's."""

    name: str
    error: type[NbctlError]
    scope: Scope | None = None
    codes: frozenset[str] = frozenset()
    pattern: str | None = None
    http: frozenset[int] = frozenset()
    said: str | None = None
    fix: str = ""
    code: str | None = None

    def __post_init__(self) -> None:
        # A bare string would otherwise become a set of its letters.
        codes = (self.codes,) if isinstance(self.codes, str) else self.codes
        object.__setattr__(self, "codes", frozenset(codes))
        object.__setattr__(self, "http", frozenset(self.http))
        if not (self.codes or self.pattern or self.http):
            raise ValueError(f"fault table row {self.name!r} gives no code, pattern or status")
        if self.pattern:
            re.compile(self.pattern)  # a bad pattern fails where the table is defined

    def matches(self, f: Fault) -> bool:
        """True when each criterion given holds: one of the codes is among the fault's, the
        pattern is found in its message (ignoring case), its status is one of `http`."""
        if self.codes and not self.codes.intersection(f.codes):
            return False
        if self.http and f.http_status not in self.http:
            return False
        if self.pattern and not re.search(self.pattern, f.message, re.IGNORECASE):
            return False
        return True


@dataclass(frozen=True)
class FaultTable:
    """A provider's rows and its wording. Templates see the fields `message`, `code` and
    `status` of the fault, plus (overriding them) what `fields(fault)` returns; the `code`
    field is also the code the error carries unless the row names its own."""

    rows: tuple[Row, ...]
    said: str = "{message}"
    unmatched: str = "{message}"
    fields: Callable[[Fault], Mapping[str, Any]] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "rows", tuple(self.rows))
        names = [row.name for row in self.rows]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"fault table rows named more than once: {', '.join(twice)}")

    def __iter__(self) -> Iterator[Row]:
        return iter(self.rows)

    def row_for(self, f: Fault) -> Row | None:
        """The first row that matches, or None."""
        return next((row for row in self.rows if row.matches(f)), None)

    def to_error(self, f: Fault, *, action: str = "") -> NbctlError:
        """The nbctl error for a fault: the row's class and scope, a message that says what
        happened and what to do, prefixed by `action` where one is given."""
        values = {"message": f.message, "code": f.code, "status": f.http_status,
                  **(self.fields(f) if self.fields else {})}
        row = self.row_for(f)
        if row is None:
            text = self.unmatched.format(**values)
            return NbctlError(prefixed(action, text), code=values["code"])
        text = (row.said or self.said).format(**values)
        if row.fix:
            text += "; " + row.fix.format(**values)
        return row.error(prefixed(action, text), scope=row.scope, code=row.code or values["code"])


def prefixed(action: str, text: str) -> str:
    """`text`, prefixed by the action that failed where there is one."""
    return f"{action}: {text}" if action else text


def once(translate: Translate, fn: Callable[..., T], *args, **kwargs) -> T:
    """Run fn once. nbctl's own errors pass through; any other exception is offered to
    `translate` and its nbctl error raised instead, or re-raised unchanged when it returns None."""
    try:
        return fn(*args, **kwargs)
    except NbctlError:
        raise
    except Exception as e:
        err = translate(e)
        if err is None:
            raise
        raise err from None


def call(translate: Translate, fn: Callable[..., T], *args, **kwargs) -> T:
    """`once` under the one retry policy: only TransientError is retried, and the last one is
    raised when the policy gives up."""
    return retry.call(once, translate, fn, *args, **kwargs)

