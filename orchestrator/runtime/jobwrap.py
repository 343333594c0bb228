"""Runs one attempt of an nbctl job on the machine, and reports it through the job's storage.

    python -m nbctl_cloud.runtime.jobwrap --status-url URL --run-id ID --restart N [--log FILE] -- CMD...

The wrapper starts CMD in the wrapper's process group with NBCTL_CHECKPOINT_URL, NBCTL_RUN_ID and
NBCTL_RESTART set, forwards SIGTERM (the preemption notice) to it, and keeps
`<status-url>/status-<N>.json` current: running with a heartbeat, then exited with the code.
The status lives beside the checkpoints, so the controller reads it the same way on every
cloud. Standard library plus fsspec only: this runs on the machine, not on the laptop.
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

HEARTBEAT_SECONDS = 2.0


def write_json(url: str, data: dict) -> None:
    import fsspec

    fs, path = fsspec.core.url_to_fs(url)
    blob = json.dumps(data, sort_keys=True).encode()
    if "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)):
        fs.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="nbctl-jobwrap")
    ap.add_argument("--status-url", required=True)
    ap.add_argument("--run-id", required=True)
    ap.add_argument("--restart", type=int, required=True)
    ap.add_argument("--log", default=None, help="local file for the command's output")
    ap.add_argument("--pidfile", default=None, help="written while the command runs")
    ap.add_argument("--workdir-url", default=None,
                    help="archive of the job's working directory, unpacked here first")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args(argv)
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not cmd:
        ap.error("no command given after --")
    status_url = f"{args.status_url.rstrip('/')}/status-{args.restart}.json"
    log_url = f"{args.status_url.rstrip('/')}/log-{args.restart}.txt"
    env = dict(os.environ, NBCTL_RUN_ID=args.run_id, NBCTL_RESTART=str(args.restart))
    out = open(args.log, "ab") if args.log else None
    started = time.time()
    base = {"run_id": args.run_id, "restart": args.restart, "host": socket.gethostname(),
            "started_at": started}
    if args.workdir_url:
        from .workdir import unpack
        try:
            unpack(args.workdir_url, os.getcwd())
        except Exception as e:  # noqa: BLE001 - reported to the controller, which gives up
            write_json(status_url, dict(base, state="exited", exit_code=127, ended_at=time.time(),
                                        heartbeat_at=time.time(),
                                        detail=f"cannot unpack the working directory: {e}"))
            return 127
    try:
        # Same process group as the wrapper: a signal to the group reaches both, and a kill
        # of the group at the end of a preemption notice leaves nothing behind.
        proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT if out else None)
    except OSError as e:
        write_json(status_url, dict(base, state="exited", exit_code=127, detail=str(e),
                                    ended_at=time.time(), heartbeat_at=time.time()))
        return 127
    if args.pidfile:
        with open(args.pidfile, "w") as f:
            f.write(str(os.getpid()))

    def forward(signum, _frame):
        try:
            os.kill(proc.pid, signum)  # a repeat of a group signal is harmless
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    done = threading.Event()

    def heartbeat():
        size = -1
        while not done.wait(HEARTBEAT_SECONDS):
            write_json(status_url, dict(base, state="running", pid=proc.pid,
                                        heartbeat_at=time.time()))
            if args.log and os.path.exists(args.log) and os.path.getsize(args.log) != size:
                size = os.path.getsize(args.log)
                copy_log(args.log, log_url)  # so `nbctl jobs logs` sees a running attempt

    write_json(status_url, dict(base, state="running", pid=proc.pid, heartbeat_at=time.time()))
    beat = threading.Thread(target=heartbeat, daemon=True)
    beat.start()
    code = proc.wait()
    done.set()
    beat.join()
    if out:
        out.close()
    copy_log(args.log, log_url)
    write_json(status_url, dict(base, state="exited", exit_code=code, ended_at=time.time(),
                                heartbeat_at=time.time()))
    if args.pidfile:
        try:
            os.unlink(args.pidfile)
        except FileNotFoundError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
