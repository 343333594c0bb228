"""Runs one attempt of an nbctl job on the machine, and reports it through the job's storage.

    python -m nbctl_cloud.runtime.jobwrap --status-url URL --run-id ID --restart N [--log FILE]
        [--pidfile FILE] [--workdir-url URL | --git-url URL] -- CMD...

The wrapper leads a process group of its own and starts CMD in it, with NBCTL_CHECKPOINT_URL,
NBCTL_RUN_ID and NBCTL_RESTART set. Whoever asks the attempt to leave signals that group (the
agent on a preemption notice, the launcher on a cancel, the local provider's stop; a machine's
shutdown signals every process), so the command gets each SIGTERM once, from the sender, and
the wrapper passes nothing on: a repeat would land while the command's own handler is saving
or its interpreter is exiting. The wrapper keeps `<status-url>/status-<N>.json` current:
running with a heartbeat, then exited with the code, and with the first signal that came from
outside (`"signal": "SIGTERM"`, `"signalled_at"`, written at once, while the command still
runs): an attempt that got one was asked to leave (a preemption notice, a shutdown of the
machine), and the controller counts whatever exit follows as a preemption, not a failure, and
so a machine whose power went before the exit.
First it puts the job's files in the current folder (the packed working directory, or a clone):
if that fails, the attempt ends at once with the reason. The pid file is replaced, never written
through, and the log is private. The status lives beside the checkpoints, so the controller
reads it the same way on every cloud. Standard library plus fsspec only: this runs on the
machine, not on the laptop.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

HEARTBEAT_SECONDS = 2.0


def write_json(url: str, data: dict) -> None:
    import fsspec

    fs, path = fsspec.core.url_to_fs(url)
    blob = json.dumps(data, sort_keys=True).encode()
    if "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)):
        from .checkpoint_dirs import make_private
        make_private(os.path.dirname(path))  # the checkpoint folder, if this makes it: 0700
        tmp = f"{path}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"  # one per write: two may meet
        with open(tmp, "wb") as f:
            f.write(blob)
        os.replace(tmp, path)  # readers never see half a file
    else:
        fs.pipe_file(path, blob)  # an object PUT is atomic


def copy_log(log: str | None, url: str) -> None:
    if not log or not os.path.exists(log):
        return
    import fsspec
    fs, path = fsspec.core.url_to_fs(url)
    if os.path.abspath(log) == os.path.abspath(path):
        return
    with open(log, "rb") as f:
        fs.pipe_file(path, f.read())


def write_pidfile(path: str, pid: int) -> None:
    """Write `pid` to `path` as a fresh file renamed into place: a link planted at either
    name is replaced, never written through."""
    tmp = os.path.join(os.path.dirname(path) or ".", f".{os.path.basename(path)}.{pid}.tmp")
    if os.path.lexists(tmp):
        os.unlink(tmp)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w") as f:
        f.write(str(pid))
    os.replace(tmp, path)


def open_log(path: str):
    """The command's log, for appending: readable by its owner only, never through a link."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    return os.fdopen(fd, "ab")


def prepare(args) -> str | None:
    """Put the job's files in the current folder (once); why not, or None."""
    try:
        if args.workdir_url:
            from .workdir import unpack
            unpack(args.workdir_url, os.getcwd())
        elif args.git_url:
            from .workdir import clone
            clone(args.git_url, os.getcwd())
    except Exception as e:  # noqa: BLE001 - reported to the controller, which gives up
        what = "unpack the working directory" if args.workdir_url else "clone the repository"
        return f"cannot {what}: {e}"
    return None


def lead_group() -> None:
    """A process group of the wrapper's own, which the command joins: one signal to it reaches
    both (a session leader, started so by its launcher, leads one already)."""
    if os.getpgrp() != os.getpid():
        os.setpgid(0, 0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="nbctl-jobwrap")
    ap.add_argument("--status-url", required=True)
    ap.add_argument("--run-id", required=True)
    ap.add_argument("--restart", type=int, required=True)
    ap.add_argument("--log", default=None, help="local file for the command's output")
    ap.add_argument("--pidfile", default=None, help="written while the command runs")
    ap.add_argument("--workdir-url", default=None,
                    help="archive of the job's working directory, unpacked here first")
    ap.add_argument("--git-url", default=None, help="repository cloned here first")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args(argv)
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not cmd:
        ap.error("no command given after --")
    lead_group()
    status_url = f"{args.status_url.rstrip('/')}/status-{args.restart}.json"
    log_url = f"{args.status_url.rstrip('/')}/log-{args.restart}.txt"
    env = dict(os.environ, NBCTL_RUN_ID=args.run_id, NBCTL_RESTART=str(args.restart))
    out = open_log(args.log) if args.log else None
    started = time.time()
    base = {"run_id": args.run_id, "restart": args.restart, "host": socket.gethostname(),
            "started_at": started}
    signalled: dict = {}
    wake = threading.Event()  # the heartbeat writes at once: a signal came, or the command ended

    def noted(signum, _frame):  # the group's signal reached the command too: nothing to pass on
        if not signalled:  # said at once (by the heartbeat), should the power go before the exit
            signalled.update(signal=signal.Signals(signum).name, signalled_at=time.time())
            wake.set()  # no I/O here: the handler may run in the midst of an import

    signal.signal(signal.SIGTERM, noted)
    signal.signal(signal.SIGINT, noted)
    failed = prepare(args)
    if failed or signalled:  # asked to leave before the command was there: it never starts
        code = 127 if failed else -getattr(signal, signalled["signal"])
        write_json(status_url, dict(base, state="exited", exit_code=code, ended_at=time.time(),
                                    heartbeat_at=time.time(),
                                    **({"detail": failed} if failed else signalled)))
        return 127 if failed else 0
    try:
        proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT if out else None)
    except OSError as e:
        write_json(status_url, dict(base, state="exited", exit_code=127, detail=str(e),
                                    ended_at=time.time(), heartbeat_at=time.time()))
        return 127
    if signalled:  # it came while the command was being started, and may have missed it
        os.kill(proc.pid, getattr(signal, signalled["signal"]))
    if args.pidfile:
        write_pidfile(args.pidfile, os.getpid())
    done = threading.Event()

    def heartbeat():
        size = -1
        while True:
            wake.wait(HEARTBEAT_SECONDS)
            wake.clear()
            if done.is_set():
                return
            write_json(status_url, dict(base, state="running", pid=proc.pid,
                                        heartbeat_at=time.time(), **signalled))
            if args.log and os.path.exists(args.log) and os.path.getsize(args.log) != size:
                size = os.path.getsize(args.log)
                copy_log(args.log, log_url)  # so `nbctl jobs logs` sees a running attempt

    write_json(status_url, dict(base, state="running", pid=proc.pid, heartbeat_at=time.time(),
                                **signalled))
    beat = threading.Thread(target=heartbeat, daemon=True)
    beat.start()
    code = proc.wait()
    done.set()
    wake.set()
    beat.join()
    if out:
        out.close()
    copy_log(args.log, log_url)
    write_json(status_url, dict(base, state="exited", exit_code=code, ended_at=time.time(),
                                heartbeat_at=time.time(), **signalled))
    if args.pidfile:
        try:
            os.unlink(args.pidfile)
        except FileNotFoundError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
