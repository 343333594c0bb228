"""EventBridge Scheduler's cron, evaluated: the scheduler engine moto does not have.

Written from the EventBridge documentation ("Cron expressions reference"), independent of
nbctl's translator: `cron(minutes hours day-of-month month day-of-week year)`;
minutes 0-59, hours 0-23, day-of-month 1-31, month 1-12 or JAN-DEC, day-of-week 1-7 or
SUN-SAT (1 = SUNDAY), year 1970-2199; wildcards `, - * / ?` (L in day-of-month: the
last day; W, # and L in day-of-week are refused here); exactly one of day-of-month / day-of-week must be `?`.
Fire times are wall-clock times in ScheduleExpressionTimezone.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
_DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
_CRON_RE = re.compile(r"^cron\((.*)\)$")


class InvalidExpression(ValueError):
    pass


def _value(token: str, names: list[str] | None, base: int) -> int:
    if names and token.upper() in names:
        return names.index(token.upper()) + base
    if not token.isdigit():
        raise InvalidExpression(f"bad value {token!r}")
    return int(token)


def _field(text: str, lo: int, hi: int, names: list[str] | None = None,
           base: int = 1) -> set[int] | None:
    """The set of values; None for `?`."""
    if text == "?":
        return None
    out: set[int] = set()
    for part in text.split(","):
        rng, _, step_s = part.partition("/")
        step = int(step_s) if step_s else 1
        if step <= 0:
            raise InvalidExpression(f"bad step in {part!r}")
        if rng == "*":
            a, b = lo, hi
        elif "-" in rng:
            x, y = rng.split("-", 1)
            a, b = _value(x, names, base), _value(y, names, base)
        else:
            a = _value(rng, names, base)
            b = hi if step_s else a
        if not (lo <= a <= hi and lo <= b <= hi) or b < a:
            raise InvalidExpression(f"{part!r} is outside {lo}-{hi}")
        out.update(range(a, b + 1, step))
    return out


class EventBridgeCron:
    def __init__(self, expression: str, tz: str):
        m = _CRON_RE.match(expression.strip())
        if not m:
            raise InvalidExpression(f"not a cron() expression: {expression!r}")
        fields = m.group(1).split()
        if len(fields) != 6:
            raise InvalidExpression("cron() takes 6 fields")
        minute, hour, dom, month, dow, year = fields
        if "#" in dow or "W" in dom or "L" in dow:
            raise InvalidExpression("W, # and L in day-of-week are not evaluated here")
        self.last_day = dom == "L"  # L in day-of-month: the last day of the month
        if self.last_day:
            dom = "1-31"
        if (dom == "?") == (dow == "?"):
            raise InvalidExpression("exactly one of day-of-month and day-of-week must be ?")
        self.minutes = _field(minute, 0, 59)
        self.hours = _field(hour, 0, 23)
        self.dom = _field(dom, 1, 31)
        self.months = _field(month, 1, 12, _MONTHS, 1)
        self.dow = _field(dow, 1, 7, _DAYS, 1)  # 1 = SUN
        self.years = _field(year, 1970, 2199)
        self.tz = ZoneInfo(tz)

    def _day_matches(self, d: datetime) -> bool:
        if d.month not in self.months or d.year not in self.years:
            return False
        if self.last_day:
            return (d + timedelta(days=1)).month != d.month
        if self.dom is not None:
            return d.day in self.dom
        return (d.isoweekday() % 7) + 1 in self.dow  # isoweekday: MON=1 .. SUN=7

    def fires(self, start: datetime, end: datetime) -> list[datetime]:
        """Every fire instant in [start, end), as aware datetimes in the schedule's zone."""
        out = []
        day = start.astimezone(self.tz).replace(hour=0, minute=0, second=0, microsecond=0,
                                                tzinfo=None)
        last = end.astimezone(self.tz).replace(tzinfo=None)
        while day <= last:
            if self._day_matches(day):
                for h in sorted(self.hours):
                    for m in sorted(self.minutes):
                        local = day.replace(hour=h, minute=m).replace(tzinfo=self.tz)
                        # a wall time skipped by a DST change does not exist: no fire
                        roundtrip = local.astimezone(ZoneInfo("UTC")).astimezone(self.tz)
                        if roundtrip.replace(tzinfo=None) != local.replace(tzinfo=None):
                            continue
                        if start <= local < end:
                            out.append(local)
            day += timedelta(days=1)
        return out
