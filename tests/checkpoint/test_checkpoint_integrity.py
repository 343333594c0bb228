"""Only complete checkpoints are trusted: damaged ones are skipped, and a save killed at any moment
leaves the newest complete checkpoint loadable and never a partial one."""
from __future__ import annotations

import json
import logging
import random
import subprocess
import time

import numpy as np
import pytest
from nbctl_cloud.runtime.checkpoint import Checkpointer

from tests.checkpoint.helpers import (
    HERE,
    PYTHON,
    child_env,
    overwrite,
    read,
    remove,
    step_prefix,
)


def two_checkpoints(url: str) -> Checkpointer:
    ck = Checkpointer(url, handle_sigterm=False)
    ck.save({"w": np.full(1000, 1.0), "tag": "one"}, 1)
    ck.save({"w": np.full(1000, 2.0), "tag": "two"}, 2)
    return ck


def loaded(url: str):
    return Checkpointer(url, handle_sigterm=False).load_latest()


def test_a_checkpoint_with_a_missing_file_is_skipped(any_url):
    two_checkpoints(any_url)
    remove(any_url, f"{step_prefix(any_url, 2)}/a00000.npy")
    restored = loaded(any_url)
    assert (restored.step, restored.state["tag"]) == (1, "one")


def test_a_checkpoint_with_a_truncated_file_is_skipped(any_url):
    two_checkpoints(any_url)
    path = f"{step_prefix(any_url, 2)}/a00000.npy"
    overwrite(any_url, path, read(any_url, path)[:-8])
    assert loaded(any_url).step == 1


def test_a_checkpoint_whose_bytes_changed_is_skipped(tmp_path):
    url = str(tmp_path)
    two_checkpoints(url)
    path = f"{step_prefix(url, 2)}/a00000.npy"
    data = bytearray(read(url, path))
    data[-1] ^= 0xFF  # same size, different content: only the checksum sees it
    overwrite(url, path, bytes(data))
    assert loaded(url).step == 1


def test_a_torn_manifest_is_skipped(any_url):
    two_checkpoints(any_url)
    manifest = read(any_url, "manifests/000000000002.json")
    overwrite(any_url, "manifests/000000000002.json", manifest[: len(manifest) // 2])
    assert loaded(any_url).step == 1


def test_a_manifest_of_another_format_is_skipped(tmp_path):
    url = str(tmp_path)
    two_checkpoints(url)
    overwrite(url, "manifests/000000000002.json", json.dumps({"step": 2}).encode())
    assert loaded(url).step == 1


def test_a_manifest_with_an_unlisted_file_entry_is_skipped(tmp_path):
    url = str(tmp_path)
    two_checkpoints(url)
    manifest = json.loads(read(url, "manifests/000000000002.json"))
    manifest["files"] = [f for f in manifest["files"] if not f["path"].endswith(".npy")]
    overwrite(url, "manifests/000000000002.json", json.dumps(manifest).encode())
    assert loaded(url).step == 1


def test_nothing_loads_when_every_checkpoint_is_damaged(tmp_path):
    url = str(tmp_path)
    two_checkpoints(url)
    for step in (1, 2):
        remove(url, f"{step_prefix(url, step)}/tree.json")
    assert loaded(url) is None


def test_skipping_a_checkpoint_is_logged(tmp_path, caplog):
    url = str(tmp_path)
    two_checkpoints(url)
    remove(url, f"{step_prefix(url, 2)}/a00000.npy")
    with caplog.at_level(logging.WARNING, logger="nbctl_cloud.runtime.checkpoint"):
        loaded(url)
    assert any("step 2" in r.getMessage() for r in caplog.records)


# -- saves killed at random moments -----------------------------------------------------------------

# phase -> (a line the helper logs as the phase begins, the longest wait before the kill)
PHASES = {
    "files": ("writing step", 0.03),
    "manifest": ("publishing the manifest", 0.003),
    "prune": ("saved in", 0.003),
    "anywhere": ("resumed", 0.6),
}
RUNS_PER_PHASE = 8


def kill_saver(url: str, phase: str, rnd: random.Random) -> int:
    """Run the saver until `phase` comes round (0-2 times), wait a random moment, SIGKILL it.

    Returns the newest step the saver had reported saved before the kill.
    """
    marker, longest = PHASES[phase]
    args = [PYTHON, "-u", str(HERE / "saver.py"), url]
    if rnd.random() < 0.5:
        args.append("--async-save")
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env=child_env(url))
    skip, saved = (0 if phase == "anywhere" else rnd.randint(0, 2)), 0
    try:
        for line in proc.stdout:
            if line.startswith("checkpoint of step"):
                saved = int(line.split()[3])
            if marker in line:
                if skip == 0:
                    break
                skip -= 1
        time.sleep(rnd.uniform(0, longest))
    finally:
        proc.kill()
        proc.wait(timeout=10)
        proc.stdout.close()
    return saved


@pytest.mark.slow
def test_a_save_killed_at_any_moment_leaves_the_newest_complete_checkpoint(tmp_path, caplog):
    from tests.checkpoint.saver import expected_state

    url = str(tmp_path / "ckpt")
    rnd = random.Random(20240715)
    phases = [p for p in PHASES for _ in range(RUNS_PER_PHASE)]
    rnd.shuffle(phases)
    newest_seen = 0
    for run, phase in enumerate(phases):
        saved = kill_saver(url, phase, rnd)
        ck = Checkpointer(url, handle_sigterm=False)
        published = ck.steps()
        with caplog.at_level(logging.WARNING, logger="nbctl_cloud.runtime.checkpoint"):
            restored = ck.load_latest()
        context = f"run {run}, killed in {phase}"
        assert not caplog.records, f"{context}: a published checkpoint was incomplete"
        if not published:
            assert restored is None, context
            continue
        assert restored.step == published[0], context
        assert restored.step >= max(saved, newest_seen), context
        expected = expected_state(restored.step)
        assert restored.state["step"] == expected["step"], context
        for got, want in zip(restored.state["arrays"], expected["arrays"], strict=True):
            assert np.array_equal(got, want), context
        newest_seen = restored.step
    assert newest_seen > 0
