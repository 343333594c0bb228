"""Kernel sessions that run for real: each pushed script version runs as a local process.

A version's session has a root folder of its own (NBCTL_ROOT, the prefix before /kaggle, as the
other emulated machines have) laid out like the Kaggle image [reference: paths]:

    <root>/kaggle/src/script.py       the pushed code
    <root>/kaggle/input/<slug>/...    each attached kernel source: that kernel's output
    <root>/kaggle/working/            the working directory; what is here at the end is output

It runs `python3 <root>/kaggle/src/script.py` in <root>/kaggle/working, in a process group of
its own, with an environment of its own (nothing of the test process's, so no credential):
PATH (the image's python3 and python, then /usr/bin:/bin), HOME=<root>/root, NBCTL_ROOT,
KAGGLE_KERNEL_RUN_TYPE=Batch. That python3 is the image's (tests/emulators/guest.py):
nbctl is not importable there unless the pushed code carries it.

The session is stopped at its limit (SIGTERM to the group, SIGKILL after `grace` seconds) and
ends ERROR with a failure message; a cancel does the same and ends CANCEL_ACKNOWLEDGED; a
process that exits 0 ends COMPLETE, any other exit ERROR. Whatever is in /kaggle/working when it
ends is kept as the version's output, and its stdout and stderr as its log, in Kaggle's log
format: a JSON list of {"stream_name", "time", "data"} (the `log` of ListKernelSessionOutput).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .reference import (CANCEL_ACKNOWLEDGED, CANCEL_REQUESTED, COMPLETE, ERROR, QUEUED,
                        RUNNING, UNKNOWN_TEXT)

TICK_SECONDS = 0.02


@dataclass
class Session:
    """One pushed version of a kernel and its run."""
    owner: str
    slug: str
    number: int
    session_id: int
    kind: str                 # "gpu", "tpu" or "cpu": which quota and which session limit
    shape: str                # machineShape as pushed ("" for none)
    root: Path
    limit: float              # real seconds the session may run
    limit_hours: float        # the same limit in Kaggle's hours
    status: str = QUEUED
    failure: str | None = None
    exit_code: int | None = None
    started: float | None = None   # time.monotonic() when it began RUNNING
    ended: float | None = None
    counted_since: float | None = None  # start of the stretch not yet charged to the quota
    log: list[dict] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)  # paths under kaggle/working, at the end
    metadata: dict = field(default_factory=dict)      # the SaveKernel request, as pushed
    proc: subprocess.Popen | None = None
    _stop: tuple[str, str | None] | None = None        # (final status, failure message)
    _readers: list[threading.Thread] = field(default_factory=list)

    @property
    def working(self) -> Path:
        return self.root / "kaggle" / "working"

    @property
    def live(self) -> bool:
        return self.status in (QUEUED, RUNNING, CANCEL_REQUESTED)

    def elapsed(self, now: float | None = None) -> float:
        if self.started is None:
            return 0.0
        return (self.ended if self.ended is not None else (now or time.monotonic())) - self.started

    def log_text(self) -> str:
        """The log as Kaggle hands it out: a JSON list, one entry a line."""
        return "[" + "\n,".join(json.dumps(e) for e in self.log) + "]"


class Runner:
    """Starts sessions and watches them: `start(session, code, inputs)`, `stop(session, ...)`.

    `python` is the image's interpreter; `grace` the seconds between SIGTERM and SIGKILL;
    `queue_seconds` how long a version waits QUEUED before it runs. `ended` is called (under
    `lock`) once a session has ended, `over_quota(session)` is asked while it runs: a string
    stops it as the limit does, with that failure message."""

    def __init__(self, python: Callable[[], Path], lock: threading.RLock, *, grace: float,
                 queue_seconds: float, ended: Callable[[Session], None],
                 over_quota: Callable[[Session], str | None]):
        self._python = python
        self._lock = lock
        self.grace = grace
        self.queue_seconds = queue_seconds
        self._ended = ended
        self._over_quota = over_quota

    def start(self, session: Session, code: str, inputs: dict[str, Path]) -> None:
        """Lay out the session's root (code, inputs copied in, an empty working directory)
        and run it after `queue_seconds`, on a thread of its own."""
        kaggle = session.root / "kaggle"
        (kaggle / "src").mkdir(parents=True)
        (kaggle / "src" / "script.py").write_text(code)
        for slug, folder in inputs.items():
            shutil.copytree(folder, kaggle / "input" / slug)
        (kaggle / "input").mkdir(exist_ok=True)
        session.working.mkdir()
        (session.root / "root").mkdir()
        bin_dir = session.root / "usr-local-bin"
        bin_dir.mkdir()
        for tool in ("python3", "python"):
            (bin_dir / tool).write_text(f'#!/bin/sh\nexec {self._python()} "$@"\n')
            (bin_dir / tool).chmod(0o755)
        threading.Thread(target=self._run, args=(session, bin_dir), daemon=True).start()

    def stop(self, session: Session, status: str, failure: str | None = None) -> None:
        """Ask a live session to end with `status`: its group gets SIGTERM, then SIGKILL after
        the grace. A cancel shows CANCEL_REQUESTED until the process is gone."""
        with self._lock:
            if not session.live or session._stop is not None:
                return
            session._stop = (status, failure)
            if status == CANCEL_ACKNOWLEDGED:
                session.status = CANCEL_REQUESTED

    def kill(self, session: Session) -> None:
        """End a session at once (its kernel is deleted): SIGKILL, no grace."""
        with self._lock:
            session._stop = (CANCEL_ACKNOWLEDGED, None)
            proc = session.proc
        if proc is not None and proc.poll() is None:
            _signal_group(proc, signal.SIGKILL)

    # -- the session's own thread --------------------------------------------------------------
    def _run(self, session: Session, bin_dir: Path) -> None:
        queued_until = time.monotonic() + self.queue_seconds
        while time.monotonic() < queued_until and session._stop is None:
            time.sleep(TICK_SECONDS)
        with self._lock:
            if session._stop is not None:  # cancelled or deleted while queued: it never ran
                self._finish(session, *session._stop)
                return
            session.proc = subprocess.Popen(
                [str(bin_dir / "python3"), str(session.root / "kaggle" / "src" / "script.py")],
                cwd=session.working, env=self._env(session, bin_dir), stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
            session.started = session.counted_since = time.monotonic()
            session.status = RUNNING
        for name, stream in (("stdout", session.proc.stdout), ("stderr", session.proc.stderr)):
            reader = threading.Thread(target=self._read, args=(session, name, stream), daemon=True)
            reader.start()
            session._readers.append(reader)
        self._watch(session)

    def _watch(self, session: Session) -> None:
        proc = session.proc
        term_at = None
        while proc.poll() is None:
            now = time.monotonic()
            with self._lock:
                if session._stop is None and now - session.started >= session.limit:
                    session._stop = (ERROR, f"The session hit its time limit of "
                                            f"{session.limit_hours:g} hours and was stopped "
                                            f"{UNKNOWN_TEXT}")
                elif session._stop is None:
                    reason = self._over_quota(session)
                    if reason:
                        session._stop = (ERROR, reason)
                stopping = session._stop is not None
            if stopping and term_at is None:
                term_at = now
                _signal_group(proc, signal.SIGTERM)
            elif term_at is not None and now - term_at >= self.grace:
                _signal_group(proc, signal.SIGKILL)
            time.sleep(TICK_SECONDS)
        _signal_group(proc, signal.SIGKILL)  # what the script left behind goes with it
        for reader in session._readers:
            reader.join()
        with self._lock:
            if session._stop is not None:
                self._finish(session, *session._stop)
            elif proc.returncode == 0:
                self._finish(session, COMPLETE, None)
            else:
                self._finish(session, ERROR, f"The script exited with code {proc.returncode} "
                                             f"{UNKNOWN_TEXT}")

    def _finish(self, session: Session, status: str, failure: str | None) -> None:
        session.ended = time.monotonic()
        session.exit_code = session.proc.returncode if session.proc is not None else None
        if session.working.is_dir():
            session.outputs = sorted(str(p.relative_to(session.working))
                                     for p in session.working.rglob("*") if p.is_file())
        session.status, session.failure = status, failure
        self._ended(session)

    def _read(self, session: Session, name: str, stream) -> None:
        for line in iter(stream.readline, b""):
            entry = {"stream_name": name, "time": round(time.monotonic() - session.started, 3),
                     "data": line.decode(errors="replace")}
            with self._lock:
                session.log.append(entry)
        stream.close()

    @staticmethod
    def _env(session: Session, bin_dir: Path) -> dict[str, str]:
        return {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(session.root / "root"),
                "LANG": "C.UTF-8", "NBCTL_ROOT": str(session.root),
                "KAGGLE_KERNEL_RUN_TYPE": "Batch"}


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
