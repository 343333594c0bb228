"""Bad input: a one-line error naming the fix, exit 2, nothing created."""
from __future__ import annotations

import pytest

BAD_UP = [
    (["up", "x", "--provider", "nope"], "unknown provider"),
    (["up", "x", "--gpu", "k80"], "unknown GPU"),
    (["up", "x", "--gpu", "t4:0"], "GPU count"),
    (["up", "x", "--gpu", "t4:"], "GPU count"),
    (["up", "x", "--idle-timeout", "soon"], "45m"),
    (["up", "Bad_Name!"], "invalid instance name"),
    (["up", "-x"], "No such option"),
    (["run", "x", "--checkpoint-url", "/tmp/ck", "--idle-timeout", "1h", "--", "python3"],
     "no such option for `nbctl run`: --idle-timeout"),
    (["up", "x", "--disk-gb", "5"], "disk-gb"),
    (["up", "x", "--schedule-stop", "0 19 * * 1-5"], "--tz"),
    (["up", "x", "--schedule-stop", "0 19 * * 1-5 *", "--tz", "UTC"], "5 fields"),
    (["up", "x", "--schedule-stop", "61 19 * * *", "--tz", "UTC"], "range"),
    (["up", "x", "--schedule-stop", "0 19 * * *", "--tz", "Mars/Olympus"], "time zone"),
    (["up", "x", "--tz", "UTC"], "needs a schedule"),
    (["up", "x", "--timeout", "forever"], "--timeout"),
    (["up", "x", "--zone", "us central"], "--zone"),
    (["up", "x", "--output", "xml"], "xml"),
    (["stop", "ghost"], "no instance named"),
    (["open", "ghost"], "no instance named"),
    (["status", "ghost"], "no instance named"),
    (["down", "ghost", "--yes"], "no instance named"),
    (["nosuchcommand"], "No such command"),
    (["up", "x", "--provider", "paperspace", "--gpu", "a4000", "--preemptible"], "--provider gcp or --provider aws"),
    (["up", "Nb_1", "--provider", "gcp", "--gpu", "t4"], "invalid instance name"),
    (["up", "nb--", "--provider", "aws", "--gpu", "t4"], "invalid instance name"),
    (["up", "x" * 64, "--provider", "paperspace", "--gpu", "a4000"], "invalid instance name"),
    (["up", "x", "--provider", "gcp"], "needs a GPU"),
    (["up", "x", "--provider", "gcp", "--gpu", "a4000"], "paperspace"),
    (["up", "x", "--provider", "aws", "--gpu", "t4:3"], "N in"),
    # options a provider could not honour are refused, never silently dropped
    (["up", "x", "--image", "ubuntu"], "--image has no meaning on the local provider"),
    (["up", "x", "--disk-gb", "100"], "--disk-gb has no meaning on the local provider"),
    (["up", "x", "--zone", "us-central1-a"], "--region/--zone has no meaning"),
    (["up", "x", "--region", "us-central1"], "--region/--zone has no meaning"),
    (["up", "x", "--provider", "aws", "--gpu", "t4", "--image", "ami-0abc"], "--preemptible"),
    (["up", "x", "--provider", "gcp", "--gpu", "t4", "--disk-gb", "100"], "at least 150 GB"),
]


@pytest.mark.parametrize("args,needle", BAD_UP, ids=[" ".join(a) for a, _ in BAD_UP])
def test_bad_input_is_one_line_exit_2_and_creates_nothing(nbctl, nbctl_home, args, needle):
    r = nbctl(*args)
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], r.stderr
    assert "Traceback" not in r.stderr
    local = nbctl_home / "data" / "local"
    assert not local.exists() or not any(local.iterdir())


def test_gpu_on_a_machine_without_nvidia_gpus_is_refused(nbctl, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi anywhere
    r = nbctl("up", "x", "--gpu", "t4")
    assert r.returncode == 2 and "no NVIDIA GPU" in r.stderr


def test_gpu_on_a_machine_with_gpus_pins_the_count(nbctl_home, tmp_path, monkeypatch):
    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho '0, Tesla T4'\necho '1, Tesla T4'\necho '2, NVIDIA A100-SXM4-40GB'\n")
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    from nbctl_cloud.providers.local.process import pick_gpus
    assert pick_gpus("t4", 2) == "0,1"
    assert pick_gpus("a100", 1) == "2"
    from nbctl_cloud.errors import UserError
    with pytest.raises(UserError, match="has 2 t4"):
        pick_gpus("t4", 3)


def test_debug_shows_a_traceback_for_errors(nbctl):
    r = nbctl("--debug", "stop", "ghost")
    assert r.returncode == 2 and "Traceback" in r.stderr
