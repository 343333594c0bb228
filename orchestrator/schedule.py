"""Cron schedules and idle policies: validation, and where each schedule runs.

A schedule is 5-field cron (croniter's dialect) plus an IANA time zone, for stop and/or start.
It runs in the cloud's own scheduler where the provider has one (so it works with the laptop
closed), else in `nbctl scheduler` from the store.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import CapabilityError, UserError
from .model import Capability, Schedule
from .provider import Provider
from .store import Store

# IANA tz database names (Area/Location, or a legacy single name such as UTC), ASCII only;
# the files a system's zoneinfo folder adds beside them are no zone names.
_IANA_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+-]*(?:/[A-Za-z0-9_+-]+){0,2}")
_NOT_IANA = frozenset({"localtime", "posixrules", "Factory"})
ENGINE_NATIVE = "native"
ENGINE_SCHEDULER = "scheduler"


def validate_cron(expr: str, what: str) -> str:
    """A 5-field cron that fires at least once; UserError naming the fix otherwise."""
    from croniter import CroniterError, croniter

    text = " ".join(str(expr).split())
    fields = text.split(" ")
    if len(fields) != 5:
        raise UserError(f"invalid {what} cron {expr!r}: use 5 fields, minute hour day month "
                        f"weekday, e.g. \"0 19 * * 1-5\"")
    try:
        ok = croniter.is_valid(text) and all(f.strip() for f in fields)
    except Exception:  # croniter raises assorted types on garbage; all mean "invalid"
        ok = False
    if not ok:
        raise UserError(f"invalid {what} cron {expr!r}: check each field's range "
                        f"(minute 0-59, hour 0-23, day 1-31, month 1-12, weekday 0-6)")
    try:  # croniter accepts "0 0 30 2 *" and raises only when asked for a fire instant
        croniter(text, datetime.now(timezone.utc)).get_next(datetime)
    except CroniterError:
        raise UserError(f"invalid {what} cron {expr!r}: it never fires (no such day in that "
                        f"month); check the day and month fields") from None
    return text


def validate_tz(tz: str | None) -> str:
    if not tz:
        raise UserError("a schedule needs a time zone: add --tz with an IANA name, "
                        "e.g. --tz Europe/Berlin or --tz UTC")
    try:
        if not _IANA_NAME.fullmatch(tz) or tz in _NOT_IANA or tz.startswith(("posix/", "right/")):
            raise ValueError(tz)
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise UserError(f"unknown time zone {tz!r}: use an IANA name such as Europe/Berlin, "
                        f"America/New_York or UTC (IANA names only: the clouds' schedulers "
                        f"take nothing else)") from None
    return tz


def make_schedule(stop: str | None, start: str | None, tz: str | None) -> Schedule | None:
    if not stop and not start:
        if tz:
            raise UserError("--tz needs a schedule: add --schedule-stop and/or --schedule-start")
        return None
    return Schedule(tz=validate_tz(tz),
                    stop=validate_cron(stop, "stop") if stop else None,
                    start=validate_cron(start, "start") if start else None)


def check_schedule(provider: Provider, schedule: Schedule) -> None:
    """Capability checks that need no network: start needs STOP_START."""
    if (schedule.start or schedule.stop) and not provider.supports(Capability.STOP_START):
        raise CapabilityError(f"{provider.name} instances cannot be stopped and started, so "
                              f"they cannot follow a schedule")


def apply_schedule(provider: Provider, name: str, schedule: Schedule, store: Store) -> str:
    """Install the schedule natively if the provider can, else hand it to `nbctl scheduler`.
    Returns the engine that runs it."""
    check_schedule(provider, schedule)
    engine = ENGINE_SCHEDULER
    rec = store.get(name)
    if provider.supports(Capability.NATIVE_SCHEDULE, rec.machine_spec() if rec else None):
        provider.set_schedule(name, schedule)
        engine = ENGINE_NATIVE
    store.save_schedule(name, provider.name, schedule, engine)
    return engine


def remove_schedule(provider: Provider, name: str, store: Store) -> bool:
    row = store.get_schedule(name)
    if row is None:
        return False
    if row["engine"] == ENGINE_NATIVE:
        provider.clear_schedule(name)
    return store.remove_schedule(name)


def next_fires(schedule: Schedule, count: int = 5, after: datetime | None = None) -> list[dict]:
    """The next `count` fire instants of each action, in the schedule's zone and in UTC."""
    from croniter import croniter

    zone = ZoneInfo(schedule.tz)
    base = (after or datetime.now(timezone.utc)).astimezone(zone)
    out = []
    for action, expr in (("stop", schedule.stop), ("start", schedule.start)):
        if not expr:
            continue
        it = croniter(expr, base)
        for _ in range(count):
            local = it.get_next(datetime)
            out.append({"action": action, "local": local.isoformat(),
                        "utc": local.astimezone(timezone.utc).isoformat()})
    return out
