#!/usr/bin/env python3
"""nbctl's job launcher on a cloud VM: starts the job attempts nbctl hands the machine.

A machine's boot script installs this file, with nbctl_carry.py beside it (nbctl_cloud.runtime.
carry), and runs it at every boot as root. It watches where nbctl puts the current attempt:
- `--source gce`: the instance attribute `nbctl-job` (the attempt as JSON) on the Compute Engine
  metadata server, with `wait_for_change`, so a new attempt starts within a moment;
- `--source ec2`: the instance tag `nbctl-job` in the instance metadata (IMDSv2, with instance
  tags in metadata turned on), polled every POLL_SECONDS. A tag value holds 256 characters, so
  it names the attempt's JSON in the job's storage (`<status_url>/launch-<restart>.json`); the
  tag `nbctl-job-requirements` lists the pinned packages (fsspec, s3fs ...) that reading it needs;
- `--source mailbox`: the attempt's JSON at --mailbox-url in the job's storage, polled every
  POLL_SECONDS (a machine with no metadata service, such as Paperspace's); deleting it cancels.
Once per (run_id, restart) it makes nbctl's carried runtime ready: pip-installs the pinned
packages the attempt lists that the machine's python3 lacks, fetches the runtime's archive from
the job's storage, checks its sha256 against the attempt's, and unpacks it once per hash into
--runtime-dir/<sha256> (root's, not writable by others). Then it starts

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
twice. When the attempt is taken away (`nbctl jobs cancel`), the jobs it started get SIGTERM.

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

GCE_ATTRIBUTE = "/computeMetadata/v1/instance/attributes/nbctl-job"
EC2_TOKEN = "/latest/api/token"
EC2_TAGS = "/latest/meta-data/tags/instance/"
EC2_TOKEN_TTL = 21600
WAIT_SECONDS = 15  # each wait_for_change call returns by then, so children are reaped
POLL_SECONDS = 1.0  # how often the EC2 tag is read (IMDS is on the machine: cheap)
BASES = {"gce": "http://metadata.google.internal", "ec2": "http://169.254.169.254"}


def http(url, headers, method="GET", timeout=WAIT_SECONDS + 10):
    """(status, body, headers) of a request to the metadata service; OSError if unreachable."""
    req = urllib.request.Request(url, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode(), resp.headers
    except urllib.error.HTTPError as e:
        return e.code, "", e.headers


class Gce:
    """The attempt in the `nbctl-job` attribute, as JSON; each change at once."""

    def __init__(self, base):
        self.base = base.rstrip("/")

    def next(self, last):
        """(the attempt's JSON or None, etag), after it differs from `last` or a timeout."""
        url = "%s%s?wait_for_change=true&timeout_sec=%d&last_etag=%s" % (
            self.base, GCE_ATTRIBUTE, WAIT_SECONDS, last)
        status, body, headers = http(url, {"Metadata-Flavor": "Google"})
        if status == 404:
            return None, headers.get("ETag") or "0"
        if status != 200:
            raise OSError("HTTP %d from the metadata server" % status)
        return body, headers.get("ETag") or "0"


class Ec2:
    """The attempt named by the `nbctl-job` instance tag, read from the job's storage."""

    def __init__(self, base):
        self.base = base.rstrip("/")
        self.token, self.expires = None, 0.0

    def tag(self, key):
        if self.token is None or time.monotonic() > self.expires:
            status, token, _ = http(self.base + EC2_TOKEN, {
                "X-aws-ec2-metadata-token-ttl-seconds": str(EC2_TOKEN_TTL)}, "PUT")
            if status != 200:
                raise OSError("HTTP %d for an IMDSv2 token" % status)
            self.token, self.expires = token, time.monotonic() + EC2_TOKEN_TTL - 60
        status, body, _ = http(self.base + EC2_TAGS + key, {"X-aws-ec2-metadata-token": self.token})
        if status == 401:
            self.token = None  # expired early (a reboot of IMDS): ask again next time
        if status == 404:
            return None
        if status != 200:
            raise OSError("HTTP %d for the instance tag %s (are instance tags in the metadata "
                          "turned on?)" % (status, key))
        return body.strip()

    def next(self, last):
        """(the attempt's JSON or None, the tag's value), once the tag differs from `last` or
        after WAIT_SECONDS."""
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            pointer = self.tag("nbctl-job") or ""
            if pointer != last or time.monotonic() >= deadline:
                break
            time.sleep(POLL_SECONDS)
        if not pointer:
            return None, ""
        if pointer == last:
            return None, last  # no change within WAIT_SECONDS
        from nbctl_carry import ensure_packages, fetch  # beside this file
        ensure_packages((self.tag("nbctl-job-requirements") or "").split())
        return fetch(pointer).decode(), pointer


class Mailbox:
    """The attempt's JSON at a URL of the job's storage, read every POLL_SECONDS (a machine with
    no metadata service: Paperspace); `requirements` are what reading it needs."""

    def __init__(self, url, requirements):
        self.url, self.requirements = url, requirements.split()

    def next(self, last):
        """(the attempt's JSON or None, its sha256 or ""), once it differs from `last` or
        after WAIT_SECONDS."""
        import hashlib

        from nbctl_carry import ensure_packages, fetch  # beside this file
        ensure_packages(self.requirements)
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            try:
                value = fetch(self.url).decode()
            except FileNotFoundError:
                value = None
            tag = hashlib.sha256(value.encode()).hexdigest() if value else ""
            if tag != last or time.monotonic() >= deadline:
                return value, tag
            time.sleep(POLL_SECONDS)


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
            try:  # jobwrap leads the attempt's process group: the command gets it too
                os.killpg(child.pid, signal.SIGTERM)
            except OSError:
                pass  # ended meanwhile


def main(argv=None):
    p = argparse.ArgumentParser(prog="nbctl-jobs", description=__doc__.split("\n")[0])
    p.add_argument("--source", choices=sorted(BASES) + ["mailbox"], default="gce",
                   help="where nbctl puts the attempt: GCE metadata, an EC2 instance tag, or "
                        "a file in the job's storage (--mailbox-url)")
    p.add_argument("--metadata-url", help="the metadata service's base URL")
    p.add_argument("--mailbox-url", help="with --source mailbox: the attempt's JSON")
    p.add_argument("--requirements", default="", help="what reading the mailbox needs")
    p.add_argument("--job-dir", required=True, help="the agent's folder of <run_id>.pid files")
    p.add_argument("--state-dir", required=True, help="markers of the attempts started")
    p.add_argument("--log-dir", required=True)
    p.add_argument("--home", required=True, help="where a job without a workdir runs")
    p.add_argument("--runtime-dir", required=True,
                   help="nbctl's carried runtime, unpacked into <sha256> folders")
    opts = p.parse_args(argv)
    if opts.source == "mailbox":
        source = Mailbox(opts.mailbox_url, opts.requirements)
    else:
        source = (Gce if opts.source == "gce" else Ec2)(opts.metadata_url or BASES[opts.source])
    own_folder(opts.job_dir, 0o755)  # the agent reads pids here, as root
    own_folder(opts.runtime_dir, 0o755)  # python3 runs from here, as root and as the job
    for d in (opts.state_dir, opts.log_dir):
        own_folder(d, 0o700)
    children, last, failures = [], "0" if opts.source == "gce" else "", 0
    while True:
        children = [c for c in children if c.poll() is None]  # reap the finished ones
        try:
            value, tag = source.next(last)
            failures = 0
        except (OSError, ValueError) as e:
            failures += 1
            print("nbctl-jobs: %s" % e, file=sys.stderr, flush=True)
            time.sleep(min(2 ** failures, 60) / 2)
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
            print("nbctl-jobs: the attempt is not JSON", file=sys.stderr, flush=True)
            continue
        start(job, opts, children)


if __name__ == "__main__":
    sys.exit(main())
