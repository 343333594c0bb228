"""Fixtures for the Paperspace provider: the fake API on loopback, the environment pointing at
it, and a provider built as the CLI builds it. Every test fails if the fake received a request
that does not fit the documented request schemas."""
from __future__ import annotations

import pytest

from tests.emulators.paperspace import Delays, PaperspaceEmulator

FAST = Delays(provision=0.3, start=0.15, stop=0.15, delete=0.1)
# machines that boot for real; stop: how long the guest's shutdown lasts between SIGTERM and
# the power going
BOOT_DELAYS = Delays(provision=0.2, start=0.2, stop=1.0, delete=0.3)


@pytest.fixture
def emu(monkeypatch):
    emulator = PaperspaceEmulator(delays=FAST, page_size=50).start()
    for key, value in emulator.env().items():
        monkeypatch.setenv(key, value)
    yield emulator
    emulator.stop()
    assert emulator.violations == [], "requests that do not fit the Paperspace API schema"


@pytest.fixture
def booting_emu(tmp_path, monkeypatch):
    """The fake API whose machines run their startup script for real, under tmp_path."""
    emulator = PaperspaceEmulator(delays=BOOT_DELAYS, run_machines=True,
                                  base_dir=str(tmp_path / "machines")).start()
    for key, value in emulator.env().items():
        monkeypatch.setenv(key, value)
    yield emulator
    emulator.stop()
    assert emulator.violations == [], "requests that do not fit the Paperspace API schema"


@pytest.fixture
def paperspace(emu):
    from nbctl_cloud.providers.paperspace import PaperspaceProvider

    provider = PaperspaceProvider({"region": "ny2"}, owner="tester")
    yield provider
    provider.close()


@pytest.fixture
def make_spec():
    from nbctl_cloud.model import InstanceSpec

    def make(name: str = "ps1", **kw) -> InstanceSpec:
        kw.setdefault("gpu", "a4000")
        kw.setdefault("gpu_count", 1)
        # stamped with nbctl's labels, as the core hands a spec to `create`
        return InstanceSpec(name=name, provider="paperspace", owner="tester", **kw).stamped()

    return make


def wait_state(provider, name, state, timeout: float = 60.0):
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        inst = provider.get(name)
        if inst is not None and inst.state is state:
            return inst
        time.sleep(0.05)
    raise AssertionError(f"{name} did not reach {state} (last: {inst})")
