"""CLI commands for auto-shutdown and cost: schedule, scheduler, idle, cost."""
from __future__ import annotations

import time

import click

from ..errors import UserError
from .common import (
    OUTPUT,
    AsciiInt,
    open_store,
    provider_cache,
    provider_for,
    seconds,
    show_notes,
)


@click.group()
def schedule() -> None:
    """Cron schedules that stop and start a machine (5-field cron, IANA time zone)."""


@schedule.command(name="set")
@click.argument("name")
@click.option("--stop", "stop_cron", default=None, help='Cron for stopping, e.g. "0 19 * * 1-5".')
@click.option("--start", "start_cron", default=None, help='Cron for starting, e.g. "0 8 * * 1-5".')
@click.option("--tz", default=None, help="IANA time zone, e.g. Europe/Berlin.")
@OUTPUT
def schedule_set(name, stop_cron, start_cron, tz, fmt):
    """Install or replace NAME's schedule (natively where the cloud has a scheduler)."""
    from ..output import emit
    from ..schedule import ENGINE_NATIVE, apply_schedule, make_schedule
    sched = make_schedule(stop_cron, start_cron, tz)
    if sched is None:
        raise UserError("give --stop and/or --start with a cron, and --tz")
    store = open_store()
    prov = provider_for(store, name)
    old = store.get_schedule(name)
    # The new schedule replaces the old in place (native schedulers check it before writing),
    # so one the cloud refuses leaves the old one working.
    engine = apply_schedule(prov, name, sched, store)
    if old and old["engine"] == ENGINE_NATIVE and engine != ENGINE_NATIVE:
        prov.clear_schedule(name)
    emit({"name": name, "engine": engine, **sched.to_dict()}, fmt,
         text=f"{name}: schedule set, run by {_engine_words(engine, prov.name)}")


def _engine_words(engine: str, provider: str) -> str:
    if engine == "native":
        return f"{provider}'s own scheduler (works with this computer off)"
    return "`nbctl scheduler` (keep one running: see README)"


@schedule.command(name="show")
@click.argument("name")
@click.option("--count", default=5, show_default=True, type=AsciiInt(1, 100))
@OUTPUT
def schedule_show(name, count, fmt):
    """Show NAME's schedule, which engine runs it, and its next fire instants."""
    from ..model import Schedule
    from ..output import emit, table
    from ..schedule import next_fires
    store = open_store()
    row = store.get_schedule(name)
    if row is None:
        raise UserError(f"{name} has no schedule: add one with `nbctl schedule set {name} "
                        f"--stop CRON --tz ZONE`")
    from ..scheduler import invalid
    bad = invalid(row)  # one an older version stored unchecked
    if bad:
        raise UserError(f"{name}: {bad}")
    sched = Schedule(tz=row["tz"], stop=row["stop_cron"], start=row["start_cron"])
    fires = next_fires(sched, count)
    data = {"name": name, "engine": row["engine"], **sched.to_dict(), "next": fires}
    head = (f"{name}: stop {sched.stop or '-'}, start {sched.start or '-'} ({sched.tz}); "
            f"run by {_engine_words(row['engine'], row['provider'])}\n")
    emit(data, fmt, text=head + table([("action", "ACTION"), ("local", sched.tz.upper()),
                                       ("utc", "UTC")], fires))


@schedule.command(name="clear")
@click.argument("name")
@OUTPUT
def schedule_clear(name, fmt):
    """Remove NAME's schedule (from the cloud's scheduler too)."""
    from ..output import emit
    from ..schedule import remove_schedule
    store = open_store()
    removed = remove_schedule(provider_for(store, name), name, store)
    emit({"name": name, "removed": removed}, fmt,
         text=f"{name}: schedule {'removed' if removed else 'was not set'}")


@click.command()
@click.option("--once", is_flag=True, help="Run what is due now and exit (for cron/systemd).")
@click.option("--grace", default="15m", show_default=True,
              help="Catch up a missed fire no older than this.")
@click.option("--interval", default="60s", show_default=True,
              help="Re-read the store at least this often.")
@OUTPUT
def scheduler(once, grace, interval, fmt):
    """Run the schedules that no cloud runs (local, Paperspace, Workbench, Colab Enterprise)."""
    from ..output import emit
    from ..scheduler import run_once, serve
    grace_s, interval_s = seconds(grace, "--grace"), seconds(interval, "--interval")
    store = open_store()
    provider = provider_cache()

    def report(f) -> None:
        emit(f.__dict__, fmt, text=f"{time.strftime('%H:%M:%S')} {f.name}: {f.action} "
                                   f"{'done' if f.ok else 'not done: ' + f.detail}")

    if once:
        fired = run_once(store, provider, grace=grace_s)
        if fmt == "json":
            emit([f.__dict__ for f in fired], fmt)
        else:
            for f in fired:
                report(f)
        return
    serve(store, provider, interval=interval_s, grace=grace_s, report=report)


@click.command()
@click.argument("name")
@click.option("--timeout", "timeout", default=None, help="Stop after this long idle, e.g. 45m.")
@click.option("--off", is_flag=True, help="Turn idle shutdown off.")
@OUTPUT
def idle(name, timeout, off, fmt):
    """Change NAME's idle shutdown (busy kernels, terminals, GPU use and jobs keep it up)."""
    from ..model import Capability
    from ..output import emit
    from ..spec import format_duration, parse_duration
    if off == bool(timeout):
        raise UserError("give either --timeout DURATION or --off")
    seconds = None if off else parse_duration(timeout, what="--timeout")
    store = open_store()
    prov = provider_for(store, name)
    prov.require(Capability.NATIVE_IDLE_SHUTDOWN)
    from ..lifecycle import DEFAULT_TIMEOUT, instance_lock
    with instance_lock(store, name, "idle", DEFAULT_TIMEOUT):  # it may start an agent
        prov.set_idle_shutdown(name, seconds)
    rec = store.get(name)
    if rec is not None and rec.spec is not None:  # the recorded spec follows the machine
        from dataclasses import replace
        store.save(rec.instance, replace(rec.spec, idle_timeout=seconds))
    store.record_event(name, "idle-policy", provider=prov.name,
                       detail=f"idle timeout {format_duration(seconds) if seconds else 'off'}")
    emit({"name": name, "idle_timeout": seconds, "warnings": show_notes(prov, fmt)}, fmt,
         text=f"{name}: idle shutdown {'off' if off else 'after ' + format_duration(seconds)}")


@click.command()
@click.option("--since", default="30d", show_default=True, help="Window, e.g. 7d or 12h.")
@OUTPUT
def cost(since, fmt):
    """Estimate hours and money per instance, and what schedules and idle stops saved."""
    from ..cost import report
    from ..output import emit
    rows = report(open_store(), seconds(since, "--since"),
                  provider_for=provider_cache(need_sdk=False))
    cols = [("name", "NAME"), ("provider", "PROVIDER"), ("hours", "HOURS"), ("hourly", "$/H"),
            ("cost", "COST $"), ("saved_hours_schedule", "SAVED H (SCHEDULE)"),
            ("saved_hours_idle", "SAVED H (IDLE)"), ("saved", "SAVED $")]
    emit(rows, fmt, columns=cols, rows=rows)


COMMANDS = [schedule, scheduler, idle, cost]
