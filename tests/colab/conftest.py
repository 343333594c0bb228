"""Fixtures for the Colab Enterprise fake: the emulator on loopback and aiplatform_v1's own
NotebookServiceClient pointed at it over REST. Every test fails if the emulator received a
request that the API's schema refuses, unless the test provoked it on purpose."""
from __future__ import annotations

import pytest

from tests.emulators.colab import ColabEmulator, Delays

# A minute of idle timeout lasts 0.05 s: the API's smallest timeout (10 minutes) is 0.5 s.
FAST = Delays(operation=0.05, start=0.2, stop=0.1, delete=0.05, idle_seconds_per_minute=0.05)


@pytest.fixture
def emu():
    emulator = ColabEmulator(delays=FAST).start()
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
