"""A local fake of Compute Engine v1 and Notebooks v2 (Vertex AI Workbench) over HTTP.

    emu = GcpEmulator().start()        # 127.0.0.1, a free port
    emu.env()                          # the environment that points nbctl at it
    emu.inject("instances.insert", "stockout", zone="us-central1-a")
    emu.preempt("sp1", "us-central1-b", notice=0)   # notice: default delays.notice
    emu.end_notice("sp1", "us-central1-b")          # power off now, as at the notice's end
    emu.preempt_boots("sp1", "us-central1-b", 2)    # its next 2 boots are reclaimed
    emu.expire_request_ids()                        # as if the ids' 60 minutes had passed
    GcpEmulator(run_vms=True)          # booted VMs run their startup-script (vms.py)
    emu.counts["compute.instances.aggregatedList"], emu.violations
    emu.stop()

Also runnable as `python -m tests.emulators.gcp --port N` (control API under /_emulator/).
"""
from __future__ import annotations

import threading

from .server import Emulator, serve
from .state import Delays

__all__ = ["GcpEmulator", "Delays"]


class GcpEmulator(Emulator):
    """The emulator plus its server thread."""

    def __init__(self, project: str = "test-project", delays: Delays | None = None,
                 port: int = 0, run_vms: bool = False, jupyter: bool = False):
        super().__init__(project, delays, run_vms=run_vms, jupyter=jupyter)
        self._port = port
        self._server = None
        self._thread: threading.Thread | None = None

    def start(self) -> "GcpEmulator":
        self._server = serve(self, port=self._port)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="gcp-emulator")
        self._thread.start()
        return self

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {"NBCTL_GCP_COMPUTE_ENDPOINT": self.url, "NBCTL_GCP_NOTEBOOKS_ENDPOINT": self.url,
               "NBCTL_GCP_ANONYMOUS": "1", "GOOGLE_CLOUD_PROJECT": self.project}
        if self.compute.vms is not None:  # VMs that run have an sshd
            env["NBCTL_GCP_SSH_PORT"] = str(self.compute.vms.ssh_port)
        return env

    def stop(self) -> None:
        if self.compute.vms is not None:
            self.compute.vms.close()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
