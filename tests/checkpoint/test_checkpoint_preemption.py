"""The preemption notice (SIGTERM): the save in flight finishes, the loop saves its current step,
and the job exits with EXIT_PREEMPTED, which tells nbctl to resume it."""
from __future__ import annotations

import os
import signal
import subprocess
import textwrap
import time

import numpy as np
import pytest
from nbctl_cloud.runtime.checkpoint import EXIT_PREEMPTED, Checkpointer

from tests.checkpoint.helpers import EXAMPLES, PYTHON, child_env


def start(args: list[str], url: str) -> subprocess.Popen:
    return subprocess.Popen([PYTHON, "-u", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=child_env(url))


def wait_for_line(proc: subprocess.Popen, prefix: str) -> str:
    for line in proc.stdout:
        if line.startswith(prefix):
            return line
    raise AssertionError(f"the job ended without printing {prefix!r}")


def finish(proc: subprocess.Popen, timeout: float = 30) -> tuple[int, str]:
    out = proc.stdout.read()  # not communicate(): it would skip what the line reads buffered
    proc.wait(timeout=timeout)
    proc.stdout.close()
    return proc.returncode, out


def test_exit_preempted_is_the_code_the_job_controller_resumes():
    from nbctl_cloud.jobs import EXIT_PREEMPTED as RESUMED_BY_CONTROLLER

    assert EXIT_PREEMPTED == RESUMED_BY_CONTROLLER == 85


@pytest.mark.slow
def test_sigterm_during_training_saves_the_current_step_and_exits_preempted(tmp_path):
    url = str(tmp_path / "ckpt")
    proc = start([str(EXAMPLES / "train_numpy.py"), "--steps", "100000", "--every", "1000",
                  "--step-time", "0.001", "--out", str(tmp_path / "w.npy")], url)
    wait_for_line(proc, "restart 0")
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    code, out = finish(proc)
    assert code == EXIT_PREEMPTED, out
    saved_step = int(out.split("preempted: saved step ")[1].split()[0])
    assert Checkpointer(url, handle_sigterm=False).load_latest().step == saved_step


SAVE_IN_FLIGHT = textwrap.dedent("""
    import time, numpy as np
    from nbctl_cloud.runtime.checkpoint import Checkpointer
    ck = Checkpointer(async_save=True, keep=None)
    ck.save({"w": np.ones(24 << 20 >> 3)}, 1)        # 24 MiB, still being written ...
    print("saving", flush=True)
    while not ck.preemption_requested:             # ... when the notice comes
        time.sleep(0.001)
    ck.save({"w": np.zeros(8)}, 2)
    ck.exit_preempted()
""")


@pytest.mark.slow
def test_sigterm_while_a_save_is_in_flight_finishes_it_before_the_final_save(tmp_path):
    url = str(tmp_path / "ckpt")
    proc = start(["-c", SAVE_IN_FLIGHT], url)
    wait_for_line(proc, "saving")
    proc.send_signal(signal.SIGTERM)
    code, out = finish(proc)
    assert code == EXIT_PREEMPTED, out
    ck = Checkpointer(url, handle_sigterm=False)
    assert ck.steps() == [2, 1]
    ck.close()
    os.remove(os.path.join(url, "manifests", "000000000002.json"))
    assert Checkpointer(url, handle_sigterm=False).load_latest().state["w"].size == 24 << 20 >> 3


NEVER_POLLS = textwrap.dedent("""
    import time
    from nbctl_cloud.runtime.checkpoint import Checkpointer
    ck = Checkpointer(exit_grace=0.5)
    ck.save({"a": 1}, 1)
    print("training", flush=True)
    time.sleep(60)                                 # a loop that never looks at the notice
""")


@pytest.mark.slow
def test_a_loop_that_ignores_the_notice_is_exited_after_the_grace(tmp_path):
    proc = start(["-c", NEVER_POLLS], str(tmp_path / "ckpt"))
    wait_for_line(proc, "training")
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    code, out = finish(proc, timeout=20)
    assert code == EXIT_PREEMPTED, out
    assert 0.4 < time.monotonic() - sent < 10


def test_sigterm_sets_preemption_requested_and_keeps_the_process_alive(tmp_path):
    ck = Checkpointer(str(tmp_path), exit_grace=None)
    try:
        assert not ck.preemption_requested
        os.kill(os.getpid(), signal.SIGTERM)
        assert ck.preemption_requested
    finally:
        ck.close()


def test_a_handler_installed_before_is_still_called(tmp_path):
    seen = []
    before = signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(signum))
    try:
        ck = Checkpointer(str(tmp_path), exit_grace=None)
        os.kill(os.getpid(), signal.SIGTERM)
        ck.close()
        assert ck.preemption_requested and seen == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, before)


def test_close_gives_sigterm_back(tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    ck = Checkpointer(str(tmp_path), exit_grace=None)
    assert signal.getsignal(signal.SIGTERM) != before
    ck.close()
    assert signal.getsignal(signal.SIGTERM) == before


def test_exit_preempted_waits_for_the_save_then_exits_85(tmp_path):
    ck = Checkpointer(str(tmp_path), async_save=True, handle_sigterm=False)
    ck.save({"w": np.ones(1 << 20)}, 7)
    with pytest.raises(SystemExit) as exited:
        ck.exit_preempted()
    assert exited.value.code == EXIT_PREEMPTED
    assert Checkpointer(str(tmp_path), handle_sigterm=False).load_latest().step == 7


def test_exit_preempted_still_exits_85_when_the_last_save_failed(gated_fs, capsys):
    ck = Checkpointer("gated://ck/run", async_save=True, handle_sigterm=False)
    gated_fs.fail = OSError("disk full")
    ck.save({"a": 1}, 1)
    with pytest.raises(SystemExit) as exited:
        ck.exit_preempted()
    assert exited.value.code == EXIT_PREEMPTED
    assert "disk full" in capsys.readouterr().err
