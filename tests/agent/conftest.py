"""Fixtures for the agent's tests; the fakes themselves are in fakes.py."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.agent.fakes import TOKEN, FakeJupyter, FakeMetadata, wait_for


@pytest.fixture
def fake_jupyter():
    server = FakeJupyter()
    yield server
    server.close()


@pytest.fixture
def fake_metadata():
    server = FakeMetadata()
    yield server
    server.close()


@pytest.fixture
def token_file(tmp_path) -> Path:
    path = tmp_path / "jupyter-token"
    path.write_text(TOKEN + "\n")
    return path


@pytest.fixture
def job_dir(tmp_path) -> Path:
    path = tmp_path / "jobs"
    path.mkdir()
    return path


@pytest.fixture
def gpu_bin(tmp_path):
    """Put a fake nvidia-smi first on PATH; call it with the utilisation lines to print."""
    bindir = tmp_path / "bin"
    bindir.mkdir()

    def install(*percent: int) -> dict:
        exe = bindir / "nvidia-smi"
        lines = "\n".join(str(p) for p in percent)
        exe.write_text(f"#!/bin/sh\nprintf '{lines}\\n'\n")
        exe.chmod(0o755)
        return {"PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"}
    return install


@pytest.fixture
def job(job_dir):
    """Start a job process and drop its pid file in job_dir as nbctl jobs do: a process group
    of its own, as jobwrap leads one (the agent signals the group).

    Plain: `sleep 60`, which SIGTERM kills. trap=True: a process that writes a line per
    SIGTERM to `proc.signals` and keeps running, to count signals; its `proc.terms()` says
    how many SIGTERMs it has had so far, exactly (see _terms)."""
    procs = []

    def start(run_id: str = "run-1", *, trap: bool = False) -> subprocess.Popen:
        log = job_dir.parent / f"{run_id}.signals"
        if trap:
            code = ("import signal, time\n"
                    f"log = {str(log)!r}\n"
                    "signal.signal(signal.SIGTERM, lambda n, f: open(log, 'a').write('TERM\\n'))\n"
                    "signal.signal(signal.SIGWINCH, lambda n, f: open(log, 'a').write('probe\\n'))\n"
                    "open(log, 'a').close()\n"
                    "while True: time.sleep(0.1)\n")
            proc = subprocess.Popen([sys.executable, "-c", code], process_group=0)
            # the handlers are installed once the log exists
            wait_for(log.exists, 60, step=0.02, what=f"job {run_id} to install its handlers")
            proc.terms = lambda: _terms(proc, log)
        else:
            proc = subprocess.Popen(["sleep", "60"], process_group=0)
        (job_dir / f"{run_id}.pid").write_text(str(proc.pid))
        proc.signals = log
        procs.append(proc)
        return proc
    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _terms(proc: subprocess.Popen, log: Path) -> int:
    """SIGTERMs the trapping job has handled, counting every one sent before this call.

    No sleep-and-hope: send the job a probe signal (SIGWINCH) and wait until it logs it.
    A SIGTERM sent earlier is pending with it or was delivered before, and Python runs the
    handlers of pending signals in signal-number order (SIGTERM 15 before SIGWINCH 28), so
    once the probe is logged every earlier SIGTERM is too."""
    probes = log.read_text().count("probe")
    proc.send_signal(signal.SIGWINCH)
    wait_for(lambda: log.read_text().count("probe") > probes, 60, step=0.01,
             what=f"the job {proc.pid} to log the probe signal")
    return log.read_text().count("TERM")
