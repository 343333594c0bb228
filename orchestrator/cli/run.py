"""CLI commands for preemptible jobs: run, jobs (list/status/logs/cancel), controller."""
from __future__ import annotations

import sys
import time

import click

from ..errors import UserError
from .common import (
    OUTPUT,
    AsciiInt,
    chosen_provider,
    get_provider,
    open_store,
    provider_cache,
    seconds,
)

JOB_COLUMNS = [("run_id", "RUN ID"), ("instance", "INSTANCE"), ("provider", "PROVIDER"),
               ("state", "STATE"), ("restarts", "RESTARTS"), ("preemptions", "PREEMPTIONS"),
               ("detail", "DETAIL")]


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.option("--provider", "-p", default=None,
              help="local (default), gcp, aws, paperspace, kaggle.")
@click.option("--gpu", "-g", default=None, help="GPU[:COUNT], e.g. t4.")
@click.option("--preemptible", "--spot", is_flag=True, help="Use a spot/preemptible machine.")
@click.option("--region", default=None)
@click.option("--zone", "zones", multiple=True, help="Zones allowed, in order of preference.")
@click.option("--checkpoint-url", default=None,
              help="Where checkpoints go: a path, s3://bucket/prefix or gs://bucket/prefix "
                   "(not for kaggle: its kernels' output carries them).")
@click.option("--max-restarts", type=AsciiInt(min=0), default=3, show_default=True,
              help="Restarts allowed after preemptions (and failures, with --restart-on-failure).")
@click.option("--restart-on-failure", is_flag=True, help="Also restart when the command fails.")
@click.option("--workdir", type=click.Path(file_okay=False), default=None,
              help="Directory to run in (default: the current one).")
@click.option("--git", "git_url", default=None, help="Clone this repository and run in it.")
@click.option("--follow", "-f", is_flag=True, help="Watch the job and recover it until it ends.")
@click.option("--dry-run", is_flag=True,
              help="List the files that would be packed, and their size; create nothing.")
@OUTPUT
def run(name, command, provider, gpu, preemptible, region, zones, checkpoint_url, max_restarts,
        restart_on_failure, workdir, git_url, follow, dry_run, fmt):
    """Run COMMAND on machine NAME as a job that survives preemption.

    \b
    nbctl run train1 --gpu t4 --preemptible --checkpoint-url gs://b/run1 -- python train.py
    """
    import os

    from ..config import load_config, owner
    from ..model import Capability
    from ..plan import build_spec, split_zones
    from ..registry import check_sdk
    from ..runtime.checkpoint import check_url
    command = list(command[1:] if command[:1] == ("--",) else command)
    if not command:
        raise UserError("no command to run: put it after --, e.g. "
                        "`nbctl run NAME --checkpoint-url DIR -- python train.py`")
    if command[0].startswith("-"):  # no program's name starts so: an option `run` lacks
        raise UserError(f"no such option for `nbctl run`: {command[0]} (see `nbctl run --help`; "
                        f"the command goes after --, e.g. `-- python train.py`)")
    if workdir and git_url:
        raise UserError("use --workdir or --git, not both")
    provider_name = chosen_provider(provider, load_config())
    prov = get_provider(provider_name, need_sdk=False)
    prov.require(Capability.JOBS)  # before any other check: the provider's own sentence
    spec = build_spec(prov, name, gpu=gpu, preemptible=preemptible, region=region,
                      zones=split_zones(zones), owner=owner(), needs=(Capability.JOBS,))
    from .. import jobs
    from ..output import Progress, emit
    storage = prov.job_storage()  # where a cloud that carries the checkpoints keeps the rest
    if checkpoint_url is None:
        if storage is None:
            raise UserError(f"--checkpoint-url is required for {provider_name}: where the job's "
                            "checkpoints go, e.g. --checkpoint-url gs://bucket/run1")
        checkpoint_url = storage
    else:
        check_url(checkpoint_url)
        if storage is None:  # else the provider's check_job says what applies
            jobs.check_reachable(checkpoint_url, prov.shares_filesystem)
    if git_url is not None:
        jobs.check_git_url(git_url, prov.shares_filesystem)
    else:
        workdir = os.path.abspath(workdir or os.getcwd())
        if not os.path.isdir(workdir):
            raise UserError(f"--workdir {workdir} is not a directory")
    if dry_run:
        _dry_run(workdir, git_url, prov.shares_filesystem, fmt)
        return
    check_sdk(type(prov))
    job_spec = jobs.JobSpec(run_id=jobs.new_run_id(name), instance=spec, command=command,
                            checkpoint_url=checkpoint_url, max_restarts=max_restarts,
                            restart_on_failure=restart_on_failure, workdir=workdir,
                            git_url=git_url)
    prov.check_job(job_spec)  # before anything is written to the job's storage
    if workdir and not prov.shares_filesystem:
        # The machine cannot see this computer's files: carry them in the job's storage,
        # before anything is created (too big a directory is refused here).
        from dataclasses import replace

        from ..runtime.workdir import ARCHIVE, pack
        url = f"{job_spec.status_url}/{ARCHIVE}"
        size = pack(workdir, url)
        from .. import log
        log.get().info("packed %s (%d bytes) to %s", workdir, size, url)
        job_spec = replace(job_spec, workdir_url=url)
    # nbctl's machine runtime goes beside it, content-hashed: no machine needs nbctl installed
    from ..runtime_bundle import carry
    job_spec = carry(job_spec)
    store = open_store()
    progress = Progress(fmt)
    try:
        job = jobs.submit(prov, job_spec, store, progress=progress)
    finally:
        progress.done()
    if follow:
        job = _follow(store, job, prov, fmt)
    emit(job.to_dict(), fmt, text=f"{job.spec.run_id}: {job.state.value}"
                                  + (f" ({job.detail})" if job.detail else ""))
    if follow and job.state.value != "SUCCEEDED":
        sys.exit(1)


def _dry_run(workdir, git_url, shares_filesystem, fmt) -> None:
    """Say what `run` would carry to the machine; UserError if it is over the limit."""
    from ..output import emit
    from ..runtime.workdir import LIMIT_BYTES, check_size, plan
    if git_url or shares_filesystem:
        how = f"clones {git_url}" if git_url else f"runs in {workdir}, on this computer"
        emit({"packed": False, "git_url": git_url, "workdir": workdir}, fmt,
             text=f"nothing would be packed: the job {how}")
        return
    files = plan(workdir)
    total = sum(size for _, size in files)
    emit({"packed": True, "workdir": workdir, "total_bytes": total, "limit_bytes": LIMIT_BYTES,
          "files": [{"path": rel, "bytes": size} for rel, size in files]}, fmt,
         text="\n".join([f"{size:>12}  {rel}" for rel, size in files]
                        + [f"{len(files)} files, {total} bytes would be packed from {workdir} "
                           f"(limit {LIMIT_BYTES} bytes); nothing was created"]))
    check_size(workdir, files)


def _follow(store, job, prov, fmt, interval: float = 1.0):
    from .. import jobs
    last = None
    while not job.state.final:
        job = jobs.step(store, job, prov)
        line = f"{job.state.value} restarts={job.restarts} preemptions={job.preemptions}"
        if line != last and fmt != "json":
            click.echo(f"{time.strftime('%H:%M:%S')} {job.spec.run_id}: {line}", err=True)
            last = line
        if not job.state.final:
            time.sleep(interval)
    return job


@click.group(name="jobs")
def jobs_group() -> None:
    """Inspect and cancel jobs started with `nbctl run`."""


@jobs_group.command(name="list")
@click.option("--all", "show_all", is_flag=True,
              help="Include jobs that finished more than 24 hours ago.")
@OUTPUT
def jobs_list(show_all, fmt):
    """List active jobs and those that finished in the last 24 hours."""
    from .. import jobs
    from ..output import emit
    store = open_store()
    found = jobs.all_jobs(store) if show_all else jobs.recent_jobs(store)
    rows = [j.to_dict() for j in found]
    emit(rows, fmt, columns=JOB_COLUMNS, rows=rows)


@jobs_group.command(name="status")
@click.argument("run_id")
@OUTPUT
def jobs_status(run_id, fmt):
    """Show one job."""
    from .. import jobs
    from ..output import emit
    from ..provider import HostedJobs
    job = jobs.get(open_store(), run_id)
    d = job.to_dict()
    prov = get_provider(job.spec.instance.provider, need_sdk=False)
    if isinstance(prov, HostedJobs):  # what the cloud adds: versions, time spent ...
        d.update(prov.job_summary(job.spec, job.restarts))
    emit(d, fmt, text="\n".join(f"{k}: {v if v not in (None, '') else '-'}" for k, v in d.items()))


@jobs_group.command(name="logs")
@click.argument("run_id")
@click.option("--attempt", type=AsciiInt(min=0), default=None,
              help="Which attempt (0 = first); default: all.")
@OUTPUT
def jobs_logs(run_id, attempt, fmt):
    """Print the job's output, attempt by attempt.

    With --output json: {"run_id", "attempts": [{"attempt", "exit_code", "signal", "log"}]},
    where exit_code and signal are null while the attempt runs and log is null before it has
    any output."""
    from .. import hosted_jobs, jobs
    from ..output import emit
    from ..provider import HostedJobs
    job = jobs.get(open_store(), run_id)
    prov = get_provider(job.spec.instance.provider, need_sdk=False)
    wanted = [attempt] if attempt is not None else list(range(job.restarts + 1))
    if isinstance(prov, HostedJobs):  # the cloud keeps the attempts' output
        attempts = [hosted_jobs.attempt_report(job, prov, n) for n in wanted]
    else:
        attempts = []
        for n in wanted:
            status = jobs.read_status(job.spec, n) or {}
            ended = status.get("state") == "exited"
            attempts.append({"attempt": n, "log": jobs.read_log(job.spec, n),
                             "exit_code": status.get("exit_code") if ended else None,
                             "signal": status.get("signal") if ended else None})
    emit({"run_id": run_id, "attempts": attempts}, fmt, text="\n".join(
        f"--- attempt {a['attempt']} ---\n"
        + (a["log"].rstrip("\n") if a["log"] is not None else "(no output yet)")
        for a in attempts))


@jobs_group.command(name="cancel")
@click.argument("run_id")
@OUTPUT
def jobs_cancel(run_id, fmt):
    """Stop the job's command (the machine stays up)."""
    from .. import jobs
    from ..output import emit
    store = open_store()
    job = jobs.get(store, run_id)
    jobs.cancel(store, job, get_provider(job.spec.instance.provider))
    emit({"run_id": run_id, "state": "CANCELLED"}, fmt, text=f"{run_id}: CANCELLED")


@click.command()
@click.option("--once", is_flag=True, help="One pass over every active job, then exit.")
@click.option("--interval", default="2s", show_default=True, help="Time between passes.")
@OUTPUT
def controller(once, interval, fmt):
    """Watch every active job and recover preempted ones (safe to run several).

    With --output json, stdout is a stream of one JSON object per line: {"event": "job", ...the
    job...} for each job whose state or restarts changed, then {"event": "pass", "at",
    "active", "changed"} at the end of each pass."""
    from .. import jobs
    every = seconds(interval, "--interval")
    store = open_store()
    provider = provider_cache()
    while True:
        active = jobs.all_jobs(store, active_only=True)
        changed = 0
        for job in active:
            after = jobs.step(store, job, provider(job.spec.instance.provider))
            if after.state != job.state or after.restarts != job.restarts:
                changed += 1
                if fmt == "json":
                    _json_line(dict(after.to_dict(), event="job", at=time.time()))
                else:
                    click.echo(f"{time.strftime('%H:%M:%S')} {job.spec.run_id}: "
                               f"{after.state.value} restarts={after.restarts}", err=True)
        if fmt == "json":
            _json_line({"event": "pass", "at": time.time(), "active": len(active),
                        "changed": changed})
        if once:  # done with them: the next controller (or this one, run again) needs no wait
            from ..store import process_holder
            for job in active:
                store.release_job(job.spec.run_id, process_holder())
            return
        time.sleep(every)


def _json_line(data: dict) -> None:
    """One line of a JSON stream, out at once: a reader sees each change as it happens."""
    import json
    click.echo(json.dumps(data, sort_keys=True, default=str))
    sys.stdout.flush()


COMMANDS = [run, jobs_group, controller]
