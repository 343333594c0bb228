"""Fixtures for the agent's tests; the fakes themselves are in fakes.py."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.agent.fakes import TOKEN, FakeJupyter, FakeMetadata


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
    """Start a job process and drop its pid file in job_dir as nbctl jobs do.

    Plain: `sleep 60`, which SIGTERM kills. trap=True: a process that writes a line per
    SIGTERM to `proc.signals` and keeps running, to count signals."""
    procs = []

    def start(run_id: str = "run-1", *, trap: bool = False) -> subprocess.Popen:
        log = job_dir.parent / f"{run_id}.signals"
        if trap:
            code = ("import signal, time\n"
                    f"signal.signal(signal.SIGTERM, lambda n, f: open({str(log)!r}, 'a')"
                    ".write('TERM\\n'))\n"
                    f"open({str(log)!r}, 'a').close()\n"
                    "while True: time.sleep(0.1)\n")
            proc = subprocess.Popen([sys.executable, "-c", code])
            deadline = time.monotonic() + 10
            while not log.exists() and time.monotonic() < deadline:
                time.sleep(0.02)  # the handler is installed once the log exists
        else:
            proc = subprocess.Popen(["sleep", "60"])
        (job_dir / f"{run_id}.pid").write_text(str(proc.pid))
        proc.signals = log
        procs.append(proc)
        return proc
    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


