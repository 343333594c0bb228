"""The example training scripts, stopped at random moments (with and without notice) and resumed
by restarting them as nbctl does, end with weights bit-identical to a run never stopped."""
from __future__ import annotations

import importlib.util
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
from nbctl_cloud.runtime.checkpoint import EXIT_PREEMPTED

from tests.checkpoint.helpers import EXAMPLES, PYTHON, child_env


def run_to_completion(script: str, args: list[str], url: str) -> tuple[str, bytes]:
    out = subprocess.run([PYTHON, "-u", str(EXAMPLES / script), *args], capture_output=True,
                         text=True, env=child_env(url), timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout.split("sha256 ")[1].split()[0], Path(args[args.index("--out") + 1]).read_bytes()


def run_with_interruptions(script: str, args: list[str], url: str, rnd: random.Random,
                           interruptions: int, window: tuple[float, float]) -> tuple[str, bytes, list]:
    """Start the job again and again (NBCTL_RESTART = 0, 1, ...), SIGTERM or SIGKILL it at a random
    moment the first `interruptions` times, and let the last start run to the end."""
    history = []
    for restart in range(interruptions + 1):
        proc = subprocess.Popen([PYTHON, "-u", str(EXAMPLES / script), *args],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=child_env(url, NBCTL_RESTART=str(restart)))
        first = proc.stdout.readline()
        resumed_at = int(first.split("starting at step ")[1]) if "starting at" in first else None
        how = None
        if restart < interruptions:
            time.sleep(rnd.uniform(*window))
            how = rnd.choice([signal.SIGTERM, signal.SIGKILL])
            proc.send_signal(how)
        rest = proc.stdout.read()  # not communicate(): it would skip what readline() buffered
        proc.wait(timeout=120)
        proc.stdout.close()
        history.append((restart, resumed_at, how, proc.returncode))
        if how is None:
            assert proc.returncode == 0, first + rest
            out = Path(args[args.index("--out") + 1]).read_bytes()
            return rest.split("sha256 ")[1].split()[0], out, history
        finished = "sha256 " in rest  # a stop that came as the job was exiting anyway
        if how == signal.SIGTERM:
            assert proc.returncode == EXIT_PREEMPTED or finished, first + rest
        else:
            assert proc.returncode == -signal.SIGKILL or finished, first + rest
    raise AssertionError("unreachable")


NUMPY_ARGS = ["--steps", "300", "--every", "20", "--step-time", "0.002"]


@pytest.mark.slow
def test_numpy_training_resumed_after_random_stops_is_bit_identical(tmp_path):
    reference, reference_bytes = run_to_completion(
        "train_numpy.py", [*NUMPY_ARGS, "--out", str(tmp_path / "ref.npy")], str(tmp_path / "ref"))
    rnd = random.Random(85)
    resumed_from = set()
    for trial in range(4):
        out = tmp_path / f"w{trial}.npy"
        args = [*NUMPY_ARGS, "--out", str(out)] + (["--async-save"] if trial % 2 else [])
        sha, data, history = run_with_interruptions(
            "train_numpy.py", args, str(tmp_path / f"ck{trial}"), rnd, interruptions=4,
            window=(0.05, 0.45))
        assert (sha, data) == (reference, reference_bytes), history
        resumed_from.update(h[1] for h in history[1:])
    assert resumed_from - {0}, "no run ever resumed from a checkpoint: the test proves nothing"


@pytest.mark.slow
def test_torch_training_resumed_after_random_stops_is_bit_identical(tmp_path):
    if importlib.util.find_spec("torch") is None:
        pytest.skip("PyTorch is not installed (pip install torch): the torch example cannot run")
    args = ["--steps", "200", "--every", "20", "--step-time", "0.004"]
    reference, reference_bytes = run_to_completion(
        "train_torch.py", [*args, "--out", str(tmp_path / "ref.npy")], str(tmp_path / "ref"))
    sha, data, history = run_with_interruptions(
        "train_torch.py", [*args, "--async-save", "--out", str(tmp_path / "w.npy")],
        str(tmp_path / "ck"), random.Random(7), interruptions=2, window=(0.2, 0.7))
    assert (sha, data) == (reference, reference_bytes), history
