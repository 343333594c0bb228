"""Fixtures for the GCP provider: the emulator on loopback, the environment pointing at it,
and a provider built as the CLI builds it. Every test fails if the emulator received a request
that Google's discovery documents would reject."""
from __future__ import annotations

import pytest

from tests.emulators.gcp import Delays, GcpEmulator

FAST = Delays(operation=0.05, provision=0.2, stop=0.1, delete=0.1, wait_timeout=1.0, notice=0.0)


def serve(monkeypatch, delays: Delays = FAST):
    """The emulator, with the environment pointing at it; fails on any off-schema request."""
    emulator = GcpEmulator(delays=delays).start()
    for key, value in emulator.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("CLOUDSDK_CORE_PROJECT", raising=False)
    yield emulator
    emulator.stop()
    assert emulator.violations == [], "requests that do not fit the discovery documents"


@pytest.fixture
def emu(monkeypatch):
    yield from serve(monkeypatch)


@pytest.fixture
def gcp(emu):
    from nbctl_cloud.providers.gcp import GcpProvider

    provider = GcpProvider({"region": "us-central1"}, owner="tester")
    yield provider
    provider.close()

