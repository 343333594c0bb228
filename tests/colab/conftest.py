"""Fixtures for the Colab Enterprise fake and the colab provider: the emulator on loopback,
aiplatform_v1's own NotebookServiceClient pointed at it over REST, and the provider as the CLI
builds it. Every test fails if the emulator received a
request that the API's schema refuses, unless the test provoked it on purpose."""
from __future__ import annotations

import pytest

from tests.emulators.colab import ColabEmulator, Delays

# A minute of idle timeout lasts 0.05 s: the API's smallest timeout (10 minutes) is 0.5 s.
FAST = Delays(operation=0.05, start=0.2, stop=0.1, delete=0.05, idle_seconds_per_minute=0.05)


@pytest.fixture
def emu(monkeypatch):
    """The fake, with the environment pointing nbctl at it."""
    emulator = ColabEmulator(delays=FAST).start()
    for key, value in emulator.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("CLOUDSDK_CORE_PROJECT", raising=False)
    yield emulator
    emulator.stop()
    assert emulator.violations == [], "requests the API's schema refuses"


@pytest.fixture
def strict(emu):
    """The emulator, with the violations this test provokes on purpose cleared at the end."""
    yield emu
    emu.violations.clear()


@pytest.fixture
def client(emu):
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform_v1

    # The REST transport keeps the scheme of an endpoint that names one (http:// here).
    return aiplatform_v1.NotebookServiceClient(
        credentials=AnonymousCredentials(), transport="rest",
        client_options=ClientOptions(api_endpoint=emu.url))


@pytest.fixture
def colab(emu):
    """The provider as the CLI builds it, against the fake."""
    from nbctl_cloud.providers.colab import ColabProvider

    provider = ColabProvider({"runtime_user": "tester@example.com"}, owner="tester")
    yield provider
    provider.close()


@pytest.fixture
def make_spec():
    from nbctl_cloud.model import InstanceSpec

    def make(name: str = "nb1", **kw) -> InstanceSpec:
        kw.setdefault("gpu", "t4")
        kw.setdefault("gpu_count", 1)
        # stamped with nbctl's labels, as the core hands a spec to `create`
        return InstanceSpec(name=name, provider="colab", owner="tester", **kw).stamped()

    return make
