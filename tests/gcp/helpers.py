"""Specs used across the GCP tests."""
from __future__ import annotations

import time

from orchestrator.spec import InstanceSpec


def spot(name="sp1", zones=("us-central1-a",), **kw) -> InstanceSpec:
    fields = dict(gpu="t4", gpu_count=1, preemptible=True, owner="tester")
    fields.update(kw)
    return InstanceSpec(name=name, provider="gcp", zones=tuple(zones), **fields)


def notebook(name="nb1", zones=("us-central1-b",), **kw) -> InstanceSpec:
    fields = dict(gpu="t4", gpu_count=1, owner="tester")
    fields.update(kw)
    return InstanceSpec(name=name, provider="gcp", zones=tuple(zones), **fields)


def wait_state(provider, name, want, timeout=10.0):
    """Poll get() like the core does, until the state is `want` (a State) or time runs out."""
    deadline = time.monotonic() + timeout
    inst = provider.get(name)
    while (inst.state if inst else None) != want and time.monotonic() < deadline:
        time.sleep(0.05)
        inst = provider.get(name)
    return inst
