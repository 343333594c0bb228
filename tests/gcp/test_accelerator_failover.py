"""`up` with a GPU the first zone does not offer: Compute Engine refuses the insert there
("Accelerator type ... does not exist in zone", the emulator's answer from its dated reference
table), and nbctl moves on to the next zone of the region, leaving nothing behind."""
from __future__ import annotations

import json

from tests.conftest import run_nbctl


def test_up_fails_over_from_zones_that_do_not_offer_the_gpu_to_one_that_does(emu):
    # P100: not in us-central1-a or -b, offered in us-central1-c (GPU regions and zones).
    res = run_nbctl("up", "p1", "--provider", "gcp", "--gpu", "p100", "--preemptible",
                    "--region", "us-central1", "--output", "json",
                    env={"NBCTL_POLL_INTERVAL": "0.1"})
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["state"] == "RUNNING" and out["zone"] == "us-central1-c"
    tried = [r["params"]["zone"] for r in emu.requests if r["method"] == "compute.instances.insert"]
    assert tried == ["us-central1-a", "us-central1-b", "us-central1-c"]
    assert list(emu.compute.instances) == [("us-central1-c", "p1")]
