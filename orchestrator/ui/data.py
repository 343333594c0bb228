"""What the dashboard shows, read from the same store and core as the CLI: `status`, `jobs`,
`jobs logs` and `cost` answer from these same calls, so the pages and the commands agree."""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone

from .. import cost, jobs
from ..model import Schedule, State
from ..output import status_row
from ..schedule import next_fires
from ..spec import format_duration
from ..store import Store

LOG_TAIL_LINES = 200


def machines(store: Store, now: float | None = None) -> list[dict]:
    """`nbctl status --output json`'s rows, with uptime, price, idle time (where the provider
    can tell it from here) and idle timeout, and next fires."""
    now = time.time() if now is None else now
    price = cost.offer_prices()
    providers: dict = {}
    out = []
    for rec in store.all():
        d = status_row(rec.to_dict())
        inst, spec = rec.instance, rec.machine_spec()
        d["uptime"] = (format_duration(now - rec.state_since)
                       if inst.state is State.RUNNING else None)
        d["hourly"] = price(inst.provider, spec.gpu, spec.gpu_count, spec.preemptible,
                            inst.backend)
        d["idle_timeout"] = format_duration(spec.idle_timeout) if spec.idle_timeout else None
        idle = _idle(providers, inst.provider, inst.name) \
            if inst.state is State.RUNNING else None
        d["idle_for"] = format_duration(int(idle)) if idle is not None else None
        d["next"] = _next_fires(store.get_schedule(inst.name))
        d["deleted"] = inst.state is State.DELETED
        out.append(d)
    return out


def _idle(providers: dict, provider: str, name: str) -> float | None:
    """How long the machine's notebook has been idle, where its provider can say from here."""
    from ..errors import NbctlError
    from ..registry import get_provider
    try:
        if provider not in providers:
            providers[provider] = get_provider(provider, need_sdk=False)
        return providers[provider].idle_seconds(name)
    except NbctlError:
        return None


def _next_fires(row: dict | None) -> list[dict]:
    """The next stop and start of a schedule: in its own zone and in this computer's."""
    if row is None:
        return []
    try:
        fires = next_fires(Schedule(tz=row["tz"], stop=row["stop_cron"],
                                    start=row["start_cron"]), 1)
    except Exception:  # noqa: BLE001 - one an older version stored unchecked: show none
        return []
    out = []
    for f in fires:
        at = datetime.fromisoformat(f["local"])
        out.append({"action": f["action"], "zone": row["tz"],
                    "in_zone": at.strftime("%a %H:%M"),
                    "here": at.astimezone().strftime("%a %H:%M %Z"),
                    "engine": row["engine"]})
    return out


def job_list(store: Store) -> list[dict]:
    """Every job, newest first, as `nbctl jobs list --all --output json` gives each."""
    return [j.to_dict() for j in reversed(jobs.all_jobs(store))]


def _read_json(url: str) -> dict | None:
    import fsspec
    try:
        fs, path = fsspec.core.url_to_fs(url)
        return json.loads(fs.cat_file(path))
    except (OSError, ValueError, ImportError):  # none yet, or storage this computer cannot read
        return None


class _Attempts:
    """Each attempt's status record and log, where `nbctl jobs logs` reads them: the job's
    storage, or the cloud's own record for a hosted job (Kaggle's kernel versions)."""

    def __init__(self, job):
        from ..provider import HostedJobs
        from ..registry import get_provider
        self.spec = job.spec
        provider = get_provider(job.spec.instance.provider, need_sdk=False)
        self.hosted = provider if isinstance(provider, HostedJobs) else None
        if self.hosted is None:
            provider.close()

    def status(self, n: int) -> dict | None:
        return self.hosted.attempt_status(self.spec, n) if self.hosted \
            else jobs.read_status(self.spec, n)

    def log(self, n: int) -> str | None:
        return self.hosted.attempt_log(self.spec, n) if self.hosted \
            else jobs.read_log(self.spec, n)

    def __enter__(self) -> "_Attempts":
        return self

    def __exit__(self, *exc) -> None:
        if self.hosted is not None:
            self.hosted.close()


def job_detail(store: Store, run_id: str) -> dict:
    """One job: its attempts from their status records (`jobs logs`), the steps its checkpoint
    helper saved, and where each attempt was interrupted or restarted."""
    job = jobs.get(store, run_id)
    attempts, points, marks = [], [], []
    with _Attempts(job) as source:
        statuses = [source.status(n) or {} for n in range(job.restarts + 1)]
    for n, status in enumerate(statuses):
        saved = _read_json(f"{job.spec.status_url}/steps-{n}.json") or {}
        points += [(t, s, n) for t, s in saved.get("points", [])]
        ended = status.get("state") == "exited"
        attempts.append({"attempt": n, "state": status.get("state") or "not started",
                         "exit_code": status.get("exit_code") if ended else None,
                         "signal": status.get("signal"), "host": status.get("host"),
                         "started_at": status.get("started_at"),
                         "ended_at": status.get("ended_at")})
        if n and status.get("started_at"):
            marks.append({"kind": "restart", "at": status["started_at"], "attempt": n})
        if n < job.restarts and status:
            marks.append(_interruption(status, n))
    return {"job": job.to_dict(), "attempts": attempts, "points": points, "marks": marks,
            "final": job.state.final}


def _interruption(status: dict, attempt: int) -> dict:
    """How attempt N ended when another followed: a session's planned end (nbctl stopped it
    ahead of a hosted session's limit, as on Kaggle), a preemption (it left on a notice, or the
    machine went with it, so it never wrote its exit), else a failure that was restarted."""
    preempted = bool(jobs.left_on_notice(status)) or status.get("state") != "exited"
    kind = ("session-end" if status.get("session_limit") else
            "preemption" if preempted else "failure")
    at = status.get("signalled_at") or status.get("ended_at") or status.get("heartbeat_at")
    return {"kind": kind, "at": at, "attempt": attempt}


def log_tail(store: Store, run_id: str, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of the job's newest attempt that has output."""
    job = jobs.get(store, run_id)
    with _Attempts(job) as source:
        for n in range(job.restarts, -1, -1):
            text = source.log(n)
            if text is not None:
                return f"--- attempt {n} ---\n" + "\n".join(text.splitlines()[-lines:])
    return "(no output yet)"


def money(store: Store, window: float, now: float | None = None) -> dict:
    """`nbctl cost --since WINDOW`'s rows and totals, and the spend of each calendar day in the
    window by provider (today so far last)."""
    now = time.time() if now is None else now
    rows = cost.report(store, window, now=now)
    days = min(max(1, int(-(-window // 86400))), 92)
    daily = []
    for day in cost.per_day(store, days, now=now):
        by_provider: dict[str, float] = {}
        for r in day["rows"]:  # unrounded: a few minutes' cents still show
            if r["hourly"]:
                key = r["provider"] or "?"
                by_provider[key] = by_provider.get(key, 0.0) + r["hours"] * r["hourly"]
        daily.append({"day": day["day"], "by_provider": by_provider})

    def total(key: str) -> float:
        return round(sum(r[key] or 0.0 for r in rows), 4)

    return {"rows": rows, "daily": daily,
            "totals": {"hours": total("hours"), "cost": round(total("cost"), 2),
                       "saved_hours_schedule": total("saved_hours_schedule"),
                       "saved_hours_idle": total("saved_hours_idle"),
                       "saved": round(total("saved"), 2),
                       "unpriced": [r["name"] for r in rows if r["hourly"] is None]},
            "as_of": datetime.fromtimestamp(now, timezone.utc).isoformat(timespec="seconds")}
