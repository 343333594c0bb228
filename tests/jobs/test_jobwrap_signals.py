"""jobwrap leads its attempt's process group and passes no signal on: one SIGTERM to the group
(the agent's on a notice, the launcher's on a cancel, a shutdown's) reaches the command once,
so a repeat never lands while the command's handler saves or its interpreter exits."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from tests.conftest import wait_for

# Counts the SIGTERMs it gets; exits 143 a second after the first (a repeat would come sooner).
COUNTER = ("import pathlib, signal, sys, time\n"
           "count = pathlib.Path(sys.argv[1])\n"
           "def term(*_):\n"
           "    count.write_text(str(int(count.read_text()) + 1))\n"
           "count.write_text('0')\n"
           "signal.signal(signal.SIGTERM, term)\n"
           "pathlib.Path(sys.argv[2]).write_text('ready')\n"
           "while count.read_text() == '0':\n"
           "    time.sleep(0.02)\n"
           "time.sleep(1.0)\n"
           "sys.exit(143)\n")


def start(tmp_path, **popen) -> subprocess.Popen:
    """jobwrap as nbctl's launchers start it, running COUNTER."""
    cmd = [sys.executable, "-m", "nbctl_cloud.runtime.jobwrap", "--status-url",
           str(tmp_path / "status"), "--run-id", "r1", "--restart", "0",
           "--pidfile", str(tmp_path / "r1.pid"), "--",
           sys.executable, "-c", COUNTER, str(tmp_path / "count"), str(tmp_path / "ready")]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdin=subprocess.DEVNULL, **popen)
    wait_for(lambda: (tmp_path / "ready").exists() and (tmp_path / "r1.pid").exists(), 60,
             what="the command's SIGTERM handler")
    return proc


def ended(tmp_path, proc) -> dict:
    assert proc.wait(timeout=60) == 0
    return json.loads((tmp_path / "status" / "status-0.json").read_text())


def test_a_wrapper_started_in_its_launchers_group_leads_one_and_the_job_gets_one_sigterm(tmp_path):
    # The GCE/EC2 launcher starts jobwrap in its own group; the agent signals jobwrap's pid's group.
    proc = start(tmp_path)
    pid = int((tmp_path / "r1.pid").read_text())
    assert pid == proc.pid and os.getpgid(pid) == pid != os.getpgrp()
    os.killpg(pid, signal.SIGTERM)
    status = ended(tmp_path, proc)
    assert (tmp_path / "count").read_text() == "1"
    assert status["exit_code"] == 143 and status["signal"] == "SIGTERM", status


def test_a_wrapper_in_a_session_of_its_own_is_asked_to_leave_through_its_group(tmp_path):
    # The local provider and Kaggle's session start it with a session of its own, and signal it.
    proc = start(tmp_path, start_new_session=True)
    os.killpg(proc.pid, signal.SIGTERM)
    status = ended(tmp_path, proc)
    assert (tmp_path / "count").read_text() == "1"
    assert status["exit_code"] == 143 and status["signal"] == "SIGTERM", status
    assert status["signalled_at"] <= status["ended_at"] <= time.time()
