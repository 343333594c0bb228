"""Preemptible jobs: start, watch, detect preemption, re-provision, resume.

A job is a command run on an nbctl machine with NBCTL_CHECKPOINT_URL, NBCTL_RUN_ID and
NBCTL_RESTART in its environment. Each attempt reports through `<checkpoint>/_nbctl/` (see
jobwrap), so watching a job is the same on every cloud. A controller pass, for each job it
holds the lease of, asks the provider about the machine (the cloud's own record says
PREEMPTED) and the job's status file, and then: records success, restarts after a preemption
(start the same machine, else fail over to the next allowed zone after cleaning up), or
records failure. Several controllers may share one store: a job is worked on only under a
lease, and each restart is claimed with a compare-and-set on the restart count.
"""
from __future__ import annotations

import json
import re
import time
import uuid

from . import hosted_jobs, lifecycle, log
from .errors import CapacityError, NbctlError, UserError
from .model import Capability, InstanceSpec, Job, JobSpec, JobState, State
from .provider import HostedJobs, Provider
from .runtime.checkpoint import EXIT_PREEMPTED
from .store import Store, process_holder

LEASE_SECONDS = 60.0
STARTUP_GRACE = 120.0  # an attempt with no status file after this long never started
NOTICE_WAIT = 180.0  # after a job exits on a notice, how long to wait for the machine to go
RECENT_SECONDS = 24 * 3600.0  # `nbctl jobs list` shows jobs that ended this recently


def new_run_id(name: str) -> str:
    return f"{name}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"


def check_git_url(url: str, shares_filesystem: bool) -> None:
    """UserError unless git on the machine can clone `url` as given, with no secret in it:
    https://, ssh://, git:// or git@host:path (a path too, where the machine shares this
    computer's files). A user or token in an http(s) URL, or any password, is refused: the URL
    goes to the store, the machine's metadata and git's command line."""
    from urllib.parse import urlsplit

    how = ("let git on the machine authenticate instead: an SSH deploy key on the machine "
           "(git@host:org/repo) or a git credential helper set up there")
    if not url.strip() or url.startswith("-") or any(c.isspace() for c in url):
        raise UserError(f"--git {url!r} is not a repository URL: give e.g. "
                        "https://github.com/org/repo or git@github.com:org/repo")
    if "://" in url:
        parts = urlsplit(url)
        local = parts.scheme == "file"
        if not local and parts.scheme not in ("https", "http", "ssh", "git"):
            raise UserError(f"--git {parts.scheme}:// is not a transport nbctl passes to git: "
                            "use https://, ssh:// or git@host:path")
        if parts.password is not None or (parts.username and parts.scheme in ("https", "http")):
            raise UserError("--git URL carries credentials (user:token@), which would be stored "
                            f"and shown on the machine: remove them and {how}")
    else:
        local = re.match(r"^(?:[\w.-]+@)?[\w.-]+:(?!//)", url) is None
    if local and not shares_filesystem:
        raise UserError(f"--git {url} is a path on this computer, which the machine cannot "
                        "reach: give the repository's https:// or git@host:path URL")


def check_reachable(checkpoint_url: str, shares_filesystem: bool) -> None:
    """UserError when the machine cannot reach `checkpoint_url`: a path on this computer, for a
    machine that does not share its files. `file://` says the machine mounts the same path."""
    if shares_filesystem or checkpoint_url.startswith("file://"):
        return
    from fsspec.core import split_protocol

    last = checkpoint_url.split("::")[-1]
    if split_protocol(last)[0] in (None, "local", "memory"):
        raise UserError(f"--checkpoint-url {checkpoint_url} is a path on this computer, which "
                        "the machine cannot reach: use gs://bucket/prefix or s3://bucket/prefix "
                        "(or file:///path for storage the machine mounts at the same path)")


def get(store: Store, run_id: str) -> Job:
    """The stored job; UserError if there is none."""
    job = store.job(run_id)
    if job is None:
        raise UserError(f"no job {run_id!r}: see `nbctl jobs list`")
    return job


def all_jobs(store: Store, active_only: bool = False) -> list[Job]:
    """Every stored job (only those not yet final, if asked), oldest first."""
    return store.jobs(active_only)


def recent_jobs(store: Store, now: float | None = None) -> list[Job]:
    """The jobs not yet final and those that ended in the last RECENT_SECONDS, oldest first."""
    since = (time.time() if now is None else now) - RECENT_SECONDS
    return [j for j in store.jobs() if not j.state.final or j.updated_at >= since]


def submit(provider: Provider, spec: JobSpec, store: Store, progress=None) -> Job:
    """Create (or reuse) the machine, record the job, start its first attempt."""
    provider.require(Capability.JOBS, spec.instance)
    provider.check_job(spec)
    if isinstance(provider, HostedJobs):  # no machine: the cloud runs each attempt itself
        hosted_jobs.submit(provider, spec, store)
        return get(store, spec.run_id)
    store.add_job(spec, provider.name)
    try:
        lifecycle.up(provider, spec.instance, store=store, wait=True,
                     **({"progress": progress} if progress else {}))
        _start_attempt(provider, spec, 0, store)
    except NbctlError as e:
        store.update_job(spec.run_id, state=JobState.FAILED,
                         detail=f"could not start: {e.message}")
        raise
    return get(store, spec.run_id)


def _start_attempt(provider: Provider, spec: JobSpec, restart: int, store: Store) -> None:
    provider.run_job(spec.instance.name, spec, restart)
    store.update_job(spec.run_id, state=JobState.RUNNING, started_at=time.time())
    log.get().info("job %s: attempt %d started on %s", spec.run_id, restart, spec.instance.name)


def read_status(spec: JobSpec, restart: int) -> dict | None:
    import fsspec
    fs, path = fsspec.core.url_to_fs(f"{spec.status_url}/status-{restart}.json")
    try:
        return json.loads(fs.cat_file(path))
    except (FileNotFoundError, ValueError):
        return None


def read_log(spec: JobSpec, restart: int) -> str | None:
    import fsspec
    fs, path = fsspec.core.url_to_fs(f"{spec.status_url}/log-{restart}.txt")
    try:
        return fs.cat_file(path).decode(errors="replace")
    except FileNotFoundError:
        return None


def left_on_notice(status: dict | None) -> str | None:
    """Why the attempt was asked to leave (nbctl's helper's "resume me" exit, or a SIGTERM or
    SIGINT from outside: a preemption notice, the machine shutting down), or None."""
    if not status or status.get("state") != "exited":
        return None
    if status.get("signal"):
        return f"it got {status['signal']} and exited with code {status.get('exit_code')}"
    if status.get("exit_code") == EXIT_PREEMPTED:
        return f"it exited with code {EXIT_PREEMPTED} (preempted)"
    return None


def step(store: Store, job: Job, provider: Provider, holder: str | None = None) -> Job:
    """One controller pass over one job. Returns the job as it is afterwards.

    A job whose machine was preempted, or that left on a notice (see left_on_notice) while its
    machine is being taken, was stopped, or stayed up past NOTICE_WAIT, is restarted as a
    preemption, whatever its exit code. Only an attempt that failed with no notice and no
    preemption is a failure (restarted only with --restart-on-failure)."""
    holder = holder or process_holder()
    now = time.time()
    if job.state.final or not store.lease_job(job.spec.run_id, holder, now, LEASE_SECONDS):
        return job
    job = get(store, job.spec.run_id)  # as it is now: a user's cancel may have just ended it
    if job.state.final:
        return job
    if isinstance(provider, HostedJobs):
        hosted_jobs.step(store, job, provider)
        return get(store, job.spec.run_id)
    inst = provider.get(job.spec.instance.name)
    state = inst.state if inst else State.DELETED
    status = read_status(job.spec, job.restarts)
    exited = status is not None and status.get("state") == "exited"
    code = status.get("exit_code") if exited else None
    noticed = left_on_notice(status)
    if exited and code == 0:
        store.update_job(job.spec.run_id, state=JobState.SUCCEEDED, exit_code=0, detail=None)
        log.get().info("job %s: succeeded after %d restart(s)", job.spec.run_id, job.restarts)
    elif state is State.RUNNING and _restarted_since(inst, status):
        # The machine went down under the attempt and is back (EC2 restarts an interrupted
        # spot instance itself, perhaps before this controller ever saw it down).
        _recover(store, job, provider, preempted=True,
                 why="its machine went down under it and started again")
    elif exited and (noticed or code < 0) and state in (State.RUNNING, State.STOPPING) \
            and now - status.get("ended_at", now) < NOTICE_WAIT:
        # It left on a notice, or a signal killed it: if the machine is about to be taken
        # (GCE's notice is a soft-off: STOPPING), this was a preemption, not a failure. Wait
        # for the cloud to say which.
        pass
    elif state is State.PREEMPTED:
        _recover(store, job, provider, preempted=True, why="preempted")
    elif state is State.STOPPED and not exited and status and status.get("signal"):
        # Told to leave, and the machine's power went before the command's exit was written.
        _recover(store, job, provider, preempted=True,
                 why=f"its machine was stopped under it after a {status['signal']}")
    elif noticed and state not in (State.DELETING, State.DELETED, State.FAILED):
        # Stopped under the job (by hand, by a schedule), or a notice the cloud took back.
        _recover(store, job, provider, preempted=True,
                 why=f"asked to leave ({noticed}); the machine is {state.value}")
    elif exited:
        if job.spec.restart_on_failure:
            _recover(store, job, provider, preempted=False, why=f"exited with code {code}")
        else:
            why = (f"the machine is {state.value}: the job was stopped with it" if noticed
                   else f"the command exited with code {code}")
            store.update_job(job.spec.run_id, state=JobState.FAILED, exit_code=code,
                             detail=status.get("detail") or why)
    elif state in (State.STOPPED, State.DELETED, State.FAILED):
        store.update_job(job.spec.run_id, state=JobState.FAILED,
                         detail=f"the machine is {state.value}: the job was stopped with it")
    elif status is None and job.started_at and now - job.started_at > STARTUP_GRACE:
        store.update_job(job.spec.run_id, state=JobState.FAILED,
                         detail=f"the job never reported in within {int(STARTUP_GRACE)}s: the "
                                "machine could not start nbctl's carried runtime; the machine's "
                                "nbctl-jobs log says why")
    return get(store, job.spec.run_id)


def _restarted_since(inst, status: dict | None) -> bool:
    """True if the machine started after the attempt did (the cloud's clock against the
    machine's; an attempt starts well after its machine's boot)."""
    booted = getattr(inst, "booted_at", None)
    return bool(booted and status and booted.timestamp() > status.get("started_at", float("inf")))


def _recover(store: Store, job: Job, provider: Provider, *, preempted: bool, why: str) -> None:
    if job.restarts >= job.spec.max_restarts:
        store.update_job(job.spec.run_id, state=JobState.FAILED,
                         detail=f"{why}; gave up after {job.restarts} restart(s) (--max-restarts "
                                f"{job.spec.max_restarts})")
        return
    # Compare-and-set on the restart count: one restart per interruption, across controllers.
    if not store.claim_restart(job.spec.run_id, job.restarts, preempted):
        return  # another controller is on it
    restart = job.restarts + 1
    log.get().info("job %s: %s; restart %d", job.spec.run_id, why, restart)
    try:
        reprovision(provider, job.spec.instance, store)
        _start_attempt(provider, job.spec, restart, store)
    except NbctlError as e:
        store.update_job(job.spec.run_id, state=JobState.FAILED, detail=f"{why}; could not "
                         f"re-provision: {e.message}")


def reprovision(provider: Provider, spec: InstanceSpec, store: Store) -> None:
    """Bring the machine back: the same one first, else a fresh one in the same or the next
    allowed zone. A cloud that restarts a preempted machine itself (EC2) is given
    `provider.restart_wait` seconds to do so before the machine is replaced: whichever comes
    first, and never both (the old machine is deleted before the new one is made)."""
    timeout = provider.restart_wait if provider.restarts_preempted else lifecycle.DEFAULT_TIMEOUT
    try:
        lifecycle.up(provider, spec, store=store, wait=True, timeout=timeout)
        return
    except CapacityError:
        pass
    lifecycle.down(provider, spec.name, store=store, wait=True)
    lifecycle.up(provider, spec, store=store, wait=True)


def cancel(store: Store, job: Job, provider: Provider) -> None:
    """CANCELLED first, then stop the command: no controller takes its SIGTERM for a notice."""
    if job.state.final:
        return
    store.update_job(job.spec.run_id, state=JobState.CANCELLED, detail="cancelled by the user")
    provider.cancel_job(job.spec.instance.name, job.spec)
