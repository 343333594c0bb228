"""The emulator's shared machinery: a clock of pending events, injected faults, filters.

Time moves on its own: state changes are scheduled as events and applied whenever any request
arrives (or a waiter polls), so a client sees PROVISIONING before RUNNING and operations that
are not DONE yet, exactly as against the cloud, without background threads.
"""
from __future__ import annotations

import heapq
import itertools
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class ApiError(Exception):
    """An HTTP error answered in the API's own JSON shape."""

    def __init__(self, status: int, payload: dict):
        super().__init__(payload.get("error", {}).get("message", ""))
        self.status = status
        self.payload = payload


@dataclass
class Delays:
    """Seconds each asynchronous step takes (short by default: tests run on small machines)."""

    operation: float = 0.1  # an operation goes PENDING -> RUNNING -> DONE
    provision: float = 0.3  # PROVISIONING/STAGING -> RUNNING (ACTIVE)
    stop: float = 0.2  # STOPPING -> TERMINATED (STOPPED)
    delete: float = 0.2
    wait_timeout: float = 2.0  # zoneOperations.wait answers by then even if not DONE
    notice: float = 1.0  # a preemption's notice (GCE gives 30 s); 0: reclaimed at once
    request_id_ttl: float = 3600.0  # a requestId is replayed this long ("at least 60 minutes")


@dataclass
class Injection:
    """Fail the next `count` calls of `method` (a discovery id or its tail) in `zone`."""

    method: str
    error: str  # stockout | stockout-details | quota | quota-global | forbidden | 429 | 500 | 503 | lost-response
    zone: str | None = None
    count: int = 1
    skip: int = 0  # let this many matching calls through first (a later page, a later retry)

    def applies(self, method_id: str, zone: str | None) -> bool:
        return (self.count > 0 and (method_id == self.method or method_id.endswith("." + self.method))
                and (self.zone is None or self.zone == zone))


@dataclass(order=True)
class _Event:
    at: float
    seq: int
    fn: Callable[[], None] = field(compare=False)


class Clock:
    """Events due at a time; `tick()` runs those due. Callers hold `lock` around state."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._events: list[_Event] = []
        self._seq = itertools.count()

    def after(self, seconds: float, fn: Callable[[], None]) -> None:
        heapq.heappush(self._events, _Event(time.monotonic() + seconds, next(self._seq), fn))

    def tick(self) -> None:
        with self.lock:
            now = time.monotonic()
            while self._events and self._events[0].at <= now:
                heapq.heappop(self._events).fn()


class Ids:
    def __init__(self, start: int = 1000000000000000000) -> None:
        self._n = itertools.count(start)

    def next(self) -> str:
        return str(next(self._n))


_FILTER_RX = re.compile(
    r"""([\w.\-]+)\s*(!=|=|:|\beq\b|\bne\b)\s*("([^"]*)"|'([^']*)'|[^\s)]+)""")


def parse_filter(text: str | None) -> list[tuple[str, str, str]]:
    """`(labels.a = "x") AND (status != "DONE")` -> [(field, op, value), ...]; conjunctions only."""
    if not text:
        return []
    out = []
    for m in _FILTER_RX.finditer(text):
        value = m.group(4) if m.group(4) is not None else m.group(5) if m.group(5) is not None else m.group(3)
        out.append((m.group(1), m.group(2), value))
    return out


def _lookup(obj: dict, dotted: str):
    cur = obj
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def _text(value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _has(have, value: str) -> bool:
    """AIP-160 `:` ("has"): `:*` is presence; a map has the key, a list the element, a string
    the substring."""
    if have is None:
        return False
    if value == "*":
        return True
    if isinstance(have, dict):
        return value in have
    if isinstance(have, list):
        return any(_text(v) == value for v in have)
    return value in _text(have)


def matches_filter(obj: dict, terms: list[tuple[str, str, str]]) -> bool:
    """The semantics of compute.v1.json's `filter` parameter: `=`/`!=` compare (AIP-160), `:`
    is "has", and `eq`/`ne` take a regular expression (RE2) that must match the entire field."""
    for fld, op, value in terms:
        have = _lookup(obj, fld)
        if op in ("eq", "ne"):
            hit = have is not None and re.fullmatch(value, _text(have)) is not None
            if hit != (op == "eq"):
                return False
        elif op == ":":
            if not _has(have, value):
                return False
        else:
            equal = have is not None and _text(have) == value
            if equal != (op == "="):
                return False
    return True
