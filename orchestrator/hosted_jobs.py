"""Jobs on a cloud that runs each attempt in a hosted session of its own, on no machine of
nbctl's (Kaggle's kernel versions; the provider is a HostedJobs).

The shape is the machine jobs' (nbctl_cloud.jobs): an attempt reports in jobwrap's status
shape, a controller pass works on a job only under its lease, and each next attempt is claimed
with a compare-and-set on the restart count. What differs is where an attempt runs and why it
ends: a hosted session has a time limit, so nbctl's runtime there stops the command with the
usual SIGTERM notice ahead of it (the status then says `session_limit`), and the next attempt
resumes from the checkpoint the last one left. Those continuations are the plan, not
interruptions: they do not count against --max-restarts. A notice from elsewhere (the command's
own "resume me" exit) does, as a preemption. An attempt the cloud cannot take yet (a used-up
quota) leaves the job WAITING, with the cloud's reason, until a later pass can start it.
"""
from __future__ import annotations

import time

from . import log
from .errors import NbctlError
from .model import Job, JobSpec, JobState
from .provider import HostedJobs
from .runtime.checkpoint import EXIT_PREEMPTED
from .store import Store


def submit(provider: HostedJobs, spec: JobSpec, store: Store) -> None:
    """Record the job and start its first attempt (or leave it WAITING, saying why)."""
    store.add_job(spec, provider.name)
    try:
        _start(provider, spec, 0, store)
    except NbctlError as e:
        store.update_job(spec.run_id, state=JobState.FAILED,
                         detail=f"could not start: {e.message}")
        raise


def _start(provider: HostedJobs, spec: JobSpec, restart: int, store: Store) -> None:
    waiting = provider.start_attempt(spec, restart)
    if waiting:
        store.update_job(spec.run_id, state=JobState.WAITING, detail=waiting)
        log.get().info("job %s: attempt %d %s", spec.run_id, restart, waiting)
    else:
        store.update_job(spec.run_id, state=JobState.RUNNING, started_at=time.time(),
                         detail=None)
        log.get().info("job %s: attempt %d started on %s", spec.run_id, restart, provider.name)


def step(store: Store, job: Job, provider: HostedJobs) -> None:
    """One controller pass over one job whose lease the caller holds."""
    spec = job.spec
    if job.state is JobState.WAITING:
        _try_start(store, job, provider)
        return
    status = provider.attempt_status(spec, job.restarts)
    if status is None:
        return  # queued: not started yet
    if status.get("state") != "exited":
        if job.state is not JobState.RUNNING:
            store.update_job(spec.run_id, state=JobState.RUNNING, detail=None)
        return
    code, noticed = status.get("exit_code"), _noticed(status)
    if code == 0:
        store.update_job(spec.run_id, state=JobState.SUCCEEDED, exit_code=0, detail=None)
        log.get().info("job %s: succeeded in attempt %d", spec.run_id, job.restarts)
    elif status.get("session_limit"):
        _next(store, job, provider, counted=False,
              why=status.get("detail") or "its session reached its time limit")
    elif noticed:
        _next(store, job, provider, counted=True, why=noticed)
    else:
        store.update_job(spec.run_id, state=JobState.FAILED, exit_code=code,
                         detail=status.get("detail") or f"the command exited with code {code}")


def _noticed(status: dict) -> str | None:
    """Why an attempt that ended was asked to leave (a signal from outside, or the checkpoint
    helper's "resume me" exit), or None."""
    if status.get("signal"):
        return f"it got {status['signal']} and exited with code {status.get('exit_code')}"
    if status.get("exit_code") == EXIT_PREEMPTED:
        return f"it exited with code {EXIT_PREEMPTED} (preempted)"
    return None


def _try_start(store: Store, job: Job, provider: HostedJobs) -> None:
    try:
        _start(provider, job.spec, job.restarts, store)
    except NbctlError as e:
        store.update_job(job.spec.run_id, state=JobState.FAILED,
                         detail=f"could not start attempt {job.restarts}: {e.message}")


def _next(store: Store, job: Job, provider: HostedJobs, *, counted: bool, why: str) -> None:
    """Claim and start the next attempt; `counted` ones are preemptions, bounded by
    --max-restarts (a session's planned end is not)."""
    if counted and job.preemptions >= job.spec.max_restarts:
        store.update_job(job.spec.run_id, state=JobState.FAILED,
                         detail=f"{why}; gave up after {job.preemptions} interruption(s) "
                                f"(--max-restarts {job.spec.max_restarts})")
        return
    if not store.claim_restart(job.spec.run_id, job.restarts, counted):
        return  # another controller is on it, or the user cancelled it
    log.get().info("job %s: %s; attempt %d", job.spec.run_id, why, job.restarts + 1)
    _try_start(store, store.job(job.spec.run_id), provider)


def attempt_report(job: Job, provider: HostedJobs, n: int) -> dict:
    """Attempt `n`'s exit code, signal and log, as `nbctl jobs logs` shows them."""
    status = provider.attempt_status(job.spec, n) or {}
    ended = status.get("state") == "exited"
    return {"attempt": n, "log": provider.attempt_log(job.spec, n),
            "exit_code": status.get("exit_code") if ended else None,
            "signal": status.get("signal") if ended else None}


def cost_rows(store: Store, since: float, provider_for) -> list[dict]:
    """`nbctl cost` rows of the hosted jobs active since then: the hours their sessions ran
    (a cloud's free quota, as Kaggle's, costs $0; the hours are what the quota lost)."""
    from .registry import provider_class

    rows = []
    for job in store.jobs():
        name = job.spec.instance.provider
        if job.updated_at < since or not issubclass(provider_class(name), HostedJobs):
            continue
        provider = provider_for(name)
        hours = provider.job_summary(job.spec, job.restarts).get("session_hours", 0.0)
        rows.append({"name": job.spec.run_id, "provider": provider.name, "hours": hours,
                     "hourly": 0.0, "cost": 0.0, "saved_hours_schedule": 0.0,
                     "saved_hours_idle": 0.0, "saved": 0.0})
    return rows
