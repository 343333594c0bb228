"""5-field cron (croniter's dialect) -> EventBridge Scheduler's `cron(m h dom mon dow year)`.

Pure functions, no SDK. The differences that matter:
- day of week: Unix/croniter count 0-6 = SUN-SAT (7 is SUN too); EventBridge counts
  1-7 = SUN-SAT, so every number is shifted by one (a classic off-by-one);
- EventBridge needs exactly one of day-of-month and day-of-week to be `?`;
- when both are restricted, Unix cron fires on either (OR); EventBridge cannot say that, so
  such an expression is refused with a UserError that names the limitation;
- names (MON-FRI, JAN) are kept as names, which EventBridge reads the same way.
"""
from __future__ import annotations

import re

from nbctl_cloud.errors import UserError

_DOW_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_ALLOWED = re.compile(r"^[0-9A-Za-z*/,\-]+$")


def _refuse(expr: str, why: str) -> UserError:
    return UserError(f"cron {expr!r} cannot be run by EventBridge Scheduler: {why}")


def _dow_value(token: str, expr: str) -> int:
    """0-6 for SUN-SAT (7 -> 0)."""
    upper = token.upper()
    if upper in _DOW_NAMES:
        return _DOW_NAMES.index(upper)
    if not token.isdigit() or int(token) > 7:
        raise _refuse(expr, f"day of week {token!r} is not 0-7 or SUN-SAT")
    return int(token) % 7


def _dow_set(field: str, expr: str) -> set[int]:
    """The days (0-6, SUN=0) a croniter day-of-week field selects."""
    days: set[int] = set()
    for part in field.split(","):
        rng, _, step_s = part.partition("/")
        step = int(step_s) if step_s.isdigit() and int(step_s) > 0 else None
        if step_s and step is None:
            raise _refuse(expr, f"step {step_s!r} in day of week")
        if rng == "*":
            lo, hi = 0, 6
        elif "-" in rng:
            a, b = rng.split("-", 1)
            lo, hi = _dow_value(a, expr), _dow_value(b, expr)
            if b.isdigit() and int(b) == 7:
                hi = 7  # x-7 runs through Sunday
            if hi < lo:
                raise _refuse(expr, f"day-of-week range {rng!r} runs backwards")
        else:
            lo = _dow_value(rng, expr)
            hi = 6 if step else lo  # "1/2" means from 1 to the end, every 2nd
            if rng.isdigit() and int(rng) == 7 and not step:
                lo = hi = 0
        days.update(d % 7 for d in range(lo, hi + 1, step or 1))
    return days


def _dow_field(days: set[int]) -> str:
    """EventBridge day-of-week (1-7 = SUN-SAT), as compact ranges."""
    nums = sorted(d + 1 for d in days)
    parts, start = [], None
    for i, n in enumerate(nums):
        if start is None:
            start = n
        if i + 1 == len(nums) or nums[i + 1] != n + 1:
            parts.append(str(start) if start == n else f"{start}-{n}")
            start = None
    return ",".join(parts)


def _restricted(field: str) -> bool:
    return field != "*" and field != "?"


def to_eventbridge(expr: str) -> str:
    """Translate a 5-field cron to EventBridge's `cron(...)` form, or raise UserError."""
    fields = str(expr).split()
    if len(fields) != 5:
        raise _refuse(expr, "use 5 fields: minute hour day-of-month month day-of-week")
    minute, hour, dom, month, dow = fields
    for f in fields:
        if not _ALLOWED.match(f):
            raise _refuse(expr, f"field {f!r} uses syntax EventBridge does not have")
    if "/" in dom and dom.split("/")[0] == "*":
        dom = "1/" + dom.split("/")[1]  # EventBridge wants a start value before the step
    for name, f in (("minute", minute), ("hour", hour), ("month", month)):
        if f.startswith("*/"):
            f = "0/" + f[2:] if name != "month" else "1/" + f[2:]
        if name == "minute":
            minute = f
        elif name == "hour":
            hour = f
        else:
            month = f
    if _restricted(dom) and _restricted(dow):
        raise _refuse(expr, "it restricts both the day of month and the day of week, which "
                            "cron reads as either-or; EventBridge supports only one of them. "
                            "Use two schedules or drop one of the two fields")
    if _restricted(dow):
        days = _dow_set(dow, expr)
        eb_dow = "*" if len(days) == 7 else _dow_field(days)
        return f"cron({minute} {hour} ? {month} {eb_dow} *)"
    return f"cron({minute} {hour} {dom} {month} ? *)"
