#!/usr/bin/env python3
"""nbctl's job launcher on a Compute Engine VM: starts the job nbctl put in the VM's metadata.

The start-up script installs this file, with nbctl_carry.py beside it (nbctl_cloud.runtime.carry),
and runs it at every boot. It watches the instance attribute `nbctl-job` on the metadata server
(`wait_for_change`, so a new job starts within a moment) and, once per (run_id, restart), makes
nbctl's carried runtime ready: pip-installs the pinned packages the job lists (fsspec, gcsfs ...)
that the VM's python3 lacks, fetches the runtime's archive from the job's storage, checks its
sha256 against the job's, and unpacks it once per hash into --runtime-dir/<sha256> (root's, not
writable by others). Then it starts

    python3 -m nbctl_cloud.runtime.jobwrap --status-url URL --run-id ID --restart N \\
        --log FILE --pidfile <job-dir>/<run_id>.pid -- COMMAND...

with PYTHONPATH set to that folder (the job inherits it: it imports the checkpoint helper from
there) and NBCTL_CHECKPOINT_URL set, in a folder of its own where jobwrap unpacks the working
directory `nbctl run` packed (--workdir-url) or clones its git URL (--git-url), else in --home.
A runtime that cannot be made ready (its hash differs, it cannot be fetched, pip fails) is never
run: the attempt's status says exited, with the reason, and the controller marks the job FAILED.
The pid file in the agent's job dir is how the agent SIGTERMs the job on a preemption notice:
the launcher keeps that folder root's and 0755, and removes what any other user put in it, so
nobody else can point the agent at a process or plant a link there. A marker on the boot disk
remembers each attempt started, so a reboot after a preemption never starts the same attempt
twice. When the attribute is removed (`nbctl jobs cancel`), the jobs it started get SIGTERM.

Standard library only, run by the VM's own python3: nothing of nbctl is installed on the VM.
"""
import argparse
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request

ATTRIBUTE = "/computeMetadata/v1/instance/attributes/nbctl-job"
WAIT_SECONDS = 15  # each wait_for_change call returns by then, so children are reaped


def fetch(base, last_etag):
    """(value or None, etag) of the attribute, after it differs from last_etag or a timeout."""
    url = "%s%s?wait_for_change=true&timeout_sec=%d&last_etag=%s" % (
        base.rstrip("/"), ATTRIBUTE, WAIT_SECONDS, last_etag)
    req = urllib.request.Request(url, headers={"Metadata-Flavor": "Google"})
    try:
        with urllib.request.urlopen(req, timeout=WAIT_SECONDS + 10) as resp:
            return resp.read().decode(), resp.headers.get("ETag") or "0"
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return None, e.headers.get("ETag") or "0"
        raise OSError("HTTP %d from the metadata server" % e.code)


def workdir(job, opts):
    src = os.path.join(opts.state_dir, "src", job["run_id"])
    if job.get("workdir_url") or job.get("git_url"):  # jobwrap unpacks or clones there first
        os.makedirs(src, exist_ok=True)
        return src
    os.makedirs(opts.home, exist_ok=True)
    return opts.home


def own_folder(path, mode):
    """Make `path` a real folder of this user's (root's, on a machine) with `mode`, and remove
    whatever another user left in it: no one else can plant a pid file or a link there."""
    if os.path.islink(path) or (os.path.lexists(path) and not os.path.isdir(path)):
        os.unlink(path)
    os.makedirs(path, exist_ok=True)
    me = os.geteuid()
    if os.lstat(path).st_uid != me:
        os.chown(path, me, os.getegid(), follow_symlinks=False)
    os.chmod(path, mode)
    for name in os.listdir(path):
        entry = os.path.join(path, name)
        st = os.lstat(entry)
        if st.st_uid != me or stat.S_ISLNK(st.st_mode):
            os.unlink(entry) if not stat.S_ISDIR(st.st_mode) else shutil.rmtree(entry)


def ready_runtime(job, opts):
    """The folder of the job's carried runtime, checked and unpacked; None when it cannot be
    made ready, after reporting why as the attempt's status (nothing of it runs)."""
    from nbctl_carry import ensure_packages, install, report_failure  # beside this file
    try:
        ensure_packages(job.get("requirements") or [])
        return install(job.get("runtime_url") or "", job.get("runtime_sha256"), opts.runtime_dir)
    except (OSError, ValueError) as e:
        reason = "cannot run nbctl's runtime: %s" % e
    print("nbctl-jobs: %s: %s" % (job["run_id"], reason), file=sys.stderr, flush=True)
    try:
        report_failure(job["status_url"], job["run_id"], int(job["restart"]), reason)
    except Exception as e:  # noqa: BLE001 - the controller's start-up grace then fails it
        print("nbctl-jobs: cannot report it: %s" % e, file=sys.stderr, flush=True)
    return None


def start(job, opts, children):
    """Start this attempt unless it was started before (on this disk)."""
    marker = os.path.join(opts.state_dir, "%s.%d.started" % (job["run_id"], int(job["restart"])))
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        return
    runtime = ready_runtime(job, opts)
    if runtime is None:
        return
    log = os.path.join(opts.log_dir, "%s.%d.log" % (job["run_id"], int(job["restart"])))
    cmd = [sys.executable, "-m", "nbctl_cloud.runtime.jobwrap", "--status-url", job["status_url"],
           "--run-id", job["run_id"], "--restart", str(int(job["restart"])), "--log", log,
           "--pidfile", os.path.join(opts.job_dir, job["run_id"] + ".pid")]
    if job.get("workdir_url"):
        cmd += ["--workdir-url", job["workdir_url"]]
    elif job.get("git_url"):
        cmd += ["--git-url", job["git_url"]]
    cmd += ["--"] + job["command"]
    env = dict(os.environ, NBCTL_CHECKPOINT_URL=job["checkpoint_url"], PYTHONPATH=runtime)
    try:
        children.append(subprocess.Popen(cmd, cwd=workdir(job, opts), env=env,
                                         stdin=subprocess.DEVNULL))
    except (OSError, subprocess.SubprocessError) as e:
        print("nbctl-jobs: cannot start %s: %s" % (job["run_id"], e), file=sys.stderr, flush=True)
        return
    print("nbctl-jobs: started %s attempt %s" % (job["run_id"], job["restart"]), flush=True)


def cancel(children):
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)  # jobwrap passes it on to the command


def main(argv=None):
    p = argparse.ArgumentParser(prog="nbctl-jobs", description=__doc__.split("\n")[0])
    p.add_argument("--metadata-url", default="http://metadata.google.internal")
    p.add_argument("--job-dir", required=True, help="the agent's folder of <run_id>.pid files")
    p.add_argument("--state-dir", required=True, help="markers of the attempts started")
    p.add_argument("--log-dir", required=True)
    p.add_argument("--home", required=True, help="where a job without a workdir runs")
    p.add_argument("--runtime-dir", required=True,
                   help="nbctl's carried runtime, unpacked into <sha256> folders")
    opts = p.parse_args(argv)
    own_folder(opts.job_dir, 0o755)  # the agent reads pids here, as root
    own_folder(opts.runtime_dir, 0o755)  # python3 runs from here, as root and as the job
    for d in (opts.state_dir, opts.log_dir):
        own_folder(d, 0o700)
    children, last = [], "0"
    while True:
        children = [c for c in children if c.poll() is None]  # reap the finished ones
        try:
            value, tag = fetch(opts.metadata_url, last)
        except (OSError, ValueError) as e:
            print("nbctl-jobs: metadata server: %s" % e, file=sys.stderr, flush=True)
            time.sleep(1)
            continue
        if tag == last:
            continue  # the wait timed out with no change
        last = tag
        if value is None:
            cancel(children)
            continue
        try:
            job = json.loads(value)
        except ValueError:
            print("nbctl-jobs: nbctl-job is not JSON", file=sys.stderr, flush=True)
            continue
        start(job, opts, children)


if __name__ == "__main__":
    sys.exit(main())
