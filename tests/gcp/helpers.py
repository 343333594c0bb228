"""Specs used across the GCP tests."""
from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request

from nbctl_cloud.model import InstanceSpec

from tests.conftest import REPO


def spot(name="sp1", zones=("us-central1-a",), **kw) -> InstanceSpec:
    """A spot VM's spec, stamped with nbctl's labels as the core hands it to `create`."""
    fields = dict(gpu="t4", gpu_count=1, preemptible=True, owner="tester")
    fields.update(kw)
    return InstanceSpec(name=name, provider="gcp", zones=tuple(zones), **fields).stamped()


def notebook(name="nb1", zones=("us-central1-b",), **kw) -> InstanceSpec:
    """A Workbench instance's spec, stamped with nbctl's labels as the core hands it to `create`."""
    fields = dict(gpu="t4", gpu_count=1, owner="tester")
    fields.update(kw)
    return InstanceSpec(name=name, provider="gcp", zones=tuple(zones), **fields).stamped()


def wait_state(provider, name, want, timeout=60.0):
    """Poll get() like the core does until the state is `want` (a State); raise on timeout.
    The timeout only stops a broken test: it is no claim on how fast the emulator is."""
    deadline = time.monotonic() + timeout
    inst = provider.get(name)
    while (inst.state if inst else None) != want:
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{name} is {inst.state if inst else 'gone'}, not {want} "
                               f"after {timeout:.0f}s")
        time.sleep(0.05)
        inst = provider.get(name)
    return inst


class EmulatorProcess:
    """`python -m tests.emulators.gcp` in a subprocess, with its control API at hand."""

    def __init__(self, *args: str):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.emulators.gcp", "--port", "0", "--provision-delay", "0.3",
             "--operation-delay", "0.05", "--stop-delay", "0.1", *args],
            cwd=REPO, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("listening on "):
            self.proc.kill()
            raise RuntimeError(f"emulator did not start: {line!r}")
        self.url = line.split()[-1]

    def control(self, what: str, body: dict | None = None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.url}/_emulator/{what}", data=data,
                                     method="POST" if data is not None else "GET")
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read() or b"{}")

    def env(self) -> dict[str, str]:
        """What points the nbctl CLI at this emulator."""
        return {"NBCTL_GCP_COMPUTE_ENDPOINT": self.url, "NBCTL_GCP_NOTEBOOKS_ENDPOINT": self.url,
                "NBCTL_GCP_ANONYMOUS": "1", "GOOGLE_CLOUD_PROJECT": "test-project",
                "NBCTL_POLL_INTERVAL": "0.1", "NBCTL_RETRY_SCALE": "0.01"}

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
