"""`nbctl scheduler`: runs the schedules no cloud runs for us (engine "scheduler").

Each pass looks, for every schedule and action, at the latest fire instant at or before now
(croniter, in the schedule's zone). If it has not been performed yet and is no older than the
grace window, the pass claims it with one compare-and-set UPDATE on the schedule's row
(`last_stop_at < fire`), and only the process whose UPDATE changed the row performs it. That is
what makes a restart catch up a missed fire exactly once, and two schedulers sharing one store
(SQLite file or PostgreSQL) never fire it twice.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable
from zoneinfo import ZoneInfo

from . import lifecycle, log
from .errors import NbctlError, UserError
from .provider import Provider
from .schedule import validate_cron, validate_tz
from .store import Store

DEFAULT_GRACE = 15 * 60.0
LOCK_WAIT = 60.0  # a machine another nbctl process works on for longer is reported, not waited for
ACTIONS = (("stop", "stop_cron", "last_stop_at"), ("start", "start_cron", "last_start_at"))


@dataclass
class Fired:
    name: str
    action: str
    fire_at: float
    ok: bool
    detail: str = ""


def latest_fire(expr: str, tz: str, now: float) -> float:
    """The latest instant <= now at which the cron fires, as epoch seconds."""
    from croniter import croniter

    # croniter's get_prev is strictly before its base: start a millisecond later so that a
    # fire exactly at `now` counts as due.
    base = datetime.fromtimestamp(now + 0.001, timezone.utc).astimezone(ZoneInfo(tz))
    it = croniter(expr, base)
    fire = it.get_prev(datetime).timestamp()
    return fire if fire <= now else it.get_prev(datetime).timestamp()


def next_fire(expr: str, tz: str, now: float) -> float:
    from croniter import croniter
    base = datetime.fromtimestamp(now, timezone.utc).astimezone(ZoneInfo(tz))
    return croniter(expr, base).get_next(datetime).timestamp()


def run_once(store: Store, provider_for: Callable[[str], Provider], *, now: float | None = None,
             grace: float = DEFAULT_GRACE) -> list[Fired]:
    """Perform every due fire once; returns what this process did."""

    now = time.time() if now is None else now
    done: list[Fired] = []
    for row in store.all_schedules(engine="scheduler"):
        bad = invalid(row)
        if bad:  # one bad schedule (e.g. stored by an older version) never stops the others
            log.get().error("schedule %s: not run: %s", row["name"], bad)
            done.append(Fired(row["name"], "schedule", 0.0, False, bad))
            continue
        for action, cron_col, last_col in ACTIONS:
            expr = row[cron_col]
            if not expr:
                continue
            fire_at = latest_fire(expr, row["tz"], now)
            baseline = row[last_col] if row[last_col] is not None else row["created_at"]
            if fire_at <= baseline:
                continue  # already performed, or due before the schedule existed
            if not store.claim_fire(row["name"], last_col, fire_at):
                continue  # another scheduler took it
            stamp = datetime.fromtimestamp(fire_at, timezone.utc).isoformat()
            if now - fire_at > grace:
                log.get().warning("schedule %s: skipped the %s due at %s (older than the %ds "
                                  "grace window)", row["name"], action, stamp, grace)
                done.append(Fired(row["name"], action, fire_at, False, "missed: older than grace"))
                continue
            try:
                provider = provider_for(row["provider"])
                getattr(lifecycle, action)(provider, row["name"], store=store, wait=False,
                                           timeout=LOCK_WAIT,
                                           reason=f"schedule {expr} {row['tz']}")
                log.get().info("schedule %s: %s due at %s done", row["name"], action, stamp)
                done.append(Fired(row["name"], action, fire_at, True))
            except NbctlError as e:
                log.get().error("schedule %s: %s due at %s failed: %s", row["name"], action,
                                stamp, e.message)
                done.append(Fired(row["name"], action, fire_at, False, e.message))
    return done


def invalid(row) -> str | None:
    """Why a stored schedule cannot run (the checks `schedule set` makes), or None."""
    try:
        validate_tz(row["tz"])
        for action, cron_col, _ in ACTIONS:
            if row[cron_col]:
                validate_cron(row[cron_col], action)
    except UserError as e:
        return f"bad schedule: {e.message}; replace it with `nbctl schedule set {row['name']}`"
    return None


def seconds_until_next(store: Store, now: float, cap: float) -> float:
    """Sleep until the next fire of any valid schedule, at most `cap` seconds."""
    soonest = now + cap
    for row in store.all_schedules(engine="scheduler"):
        if invalid(row):
            continue
        for _, cron_col, _ in ACTIONS:
            if row[cron_col]:
                soonest = min(soonest, next_fire(row[cron_col], row["tz"], now))
    return max(0.5, soonest - now)


def serve(store: Store, provider_for: Callable[[str], Provider], *, interval: float,
          grace: float, report: Callable[[Fired], None]) -> None:
    """Run forever: a pass, then sleep until the next fire (re-reading the store each minute)."""
    log.get().info("scheduler started (grace %ds)", grace)
    while True:
        for fired in run_once(store, provider_for, grace=grace):
            report(fired)
        time.sleep(seconds_until_next(store, time.time(), interval))
