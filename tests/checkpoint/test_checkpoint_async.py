"""Asynchronous saves: the caller only waits for a copy, one save is in flight at most, and a save
that failed in the background raises at the next call."""
from __future__ import annotations

import subprocess
import textwrap
import threading
import time

import numpy as np
import pytest
from nbctl_cloud.runtime.checkpoint import Checkpointer

from tests.checkpoint.helpers import PYTHON, child_env, names_under


def async_ck(url: str, **kw) -> Checkpointer:
    return Checkpointer(url, async_save=True, handle_sigterm=False, **kw)


def test_async_save_returns_before_the_files_are_written(gated_fs):
    gated_fs.gate.clear()
    ck = async_ck("gated://ck/run")
    ck.save({"w": np.ones(10)}, 1)  # would block here if the write were in this thread
    assert not any("/manifests/" in path for path in gated_fs.store)
    gated_fs.gate.set()
    ck.wait()
    assert ck.steps() == [1]


def test_training_may_change_the_state_while_it_is_being_written(gated_fs):
    gated_fs.gate.clear()
    ck = async_ck("gated://ck/run")
    w = np.zeros(1000)
    ck.save({"w": w, "meta": {"lr": 0.1}}, 1)
    w += 5  # the next training step, while the save is still waiting on the storage
    gated_fs.gate.set()
    ck.wait()
    assert ck.load_latest().state["w"].sum() == 0.0


def test_a_second_save_waits_until_the_first_is_written(gated_fs):
    gated_fs.gate.clear()
    ck = async_ck("gated://ck/run")
    ck.save({"w": np.ones(10)}, 1)
    second = threading.Thread(target=ck.save, args=({"w": np.ones(10)}, 2))
    second.start()
    second.join(timeout=0.3)
    assert second.is_alive(), "the second save did not wait for the first"
    gated_fs.gate.set()
    second.join(timeout=10)
    ck.wait()
    assert ck.steps() == [2, 1]
    assert gated_fs.most_writing == 1


def test_a_failed_background_save_raises_at_the_next_save(gated_fs):
    ck = async_ck("gated://ck/run")
    gated_fs.fail = PermissionError("bucket is read-only")
    ck.save({"w": np.ones(3)}, 1)
    with pytest.raises(PermissionError, match="read-only"):
        ck.save({"w": np.ones(3)}, 2)
    assert ck.steps() == []


def test_a_failed_background_save_raises_at_wait(gated_fs):
    ck = async_ck("gated://ck/run")
    gated_fs.fail = OSError("disk full")
    ck.save({"w": np.ones(3)}, 1)
    with pytest.raises(OSError, match="disk full"):
        ck.wait()


def test_a_background_error_is_raised_once(gated_fs):
    ck = async_ck("gated://ck/run")
    gated_fs.fail = OSError("disk full")
    ck.save({"w": np.ones(3)}, 1)
    with pytest.raises(OSError):
        ck.wait()
    gated_fs.fail = None
    ck.save({"w": np.ones(3)}, 2)
    ck.wait()
    assert ck.steps() == [2]


def test_load_latest_sees_the_save_in_flight(tmp_path):
    ck = async_ck(str(tmp_path))
    ck.save({"w": np.arange(5.0)}, 4)
    assert ck.load_latest().step == 4


def test_async_saves_round_trip_on_every_storage(any_url):
    ck = async_ck(any_url, keep=2)
    w = np.random.default_rng(0).normal(size=(64, 64))
    for step in range(1, 4):
        w += 1
        ck.save({"w": w, "step": step}, step)
    ck.wait()
    state, step = async_ck(any_url).load_latest()
    assert step == 3 and state["step"] == 3
    np.testing.assert_array_equal(state["w"], w)
    assert len([n for n in names_under(any_url) if n.startswith("step-")]) == 2


def test_async_stall_is_a_small_part_of_a_blocking_save(tmp_path):
    state = {"w": np.ones(16 << 20 >> 3)}  # 16 MiB
    blocking = Checkpointer(str(tmp_path / "b"), handle_sigterm=False)
    started = time.perf_counter()
    blocking.save(state, 1)
    blocking_s = time.perf_counter() - started
    ck = async_ck(str(tmp_path / "a"))
    ck.save(state, 1)  # the first copy also allocates the host buffer
    ck.wait()
    started = time.perf_counter()
    ck.save(state, 2)
    stall_s = time.perf_counter() - started
    ck.wait()
    assert stall_s < blocking_s / 2, (stall_s, blocking_s)  # loose: shared CI machines are noisy


ENDS_DURING_SAVE = textwrap.dedent("""
    import numpy as np
    from nbctl_cloud.runtime.checkpoint import Checkpointer
    Checkpointer(async_save=True).save({"w": np.ones(32 << 20 >> 3)}, 5)
    # the script ends here, with the 32 MiB save still being written
""")


def test_a_save_in_flight_when_the_script_ends_is_finished_first(tmp_path):
    url = str(tmp_path / "ckpt")
    subprocess.run([PYTHON, "-c", ENDS_DURING_SAVE], env=child_env(url), check=True, timeout=60)
    restored = Checkpointer(url, handle_sigterm=False).load_latest()
    assert restored.step == 5 and restored.state["w"].size == 32 << 20 >> 3
