"""A local fake of Vertex AI's NotebookService (Colab Enterprise runtimes) over HTTP, for the
aiplatform_v1 REST transport.

    emu = ColabEmulator(delays=Delays(idle_seconds_per_minute=0.1)).start()
    emu.url, emu.env()                  # http://127.0.0.1:PORT, and the environment for nbctl
    emu.inject("AssignNotebookRuntime", "stockout", location="us-central1")
    emu.inject("StartNotebookRuntime", "quota-now")   # refused at once, HTTP 429
    emu.busy(runtime_name)              # a running cell: the idle shutdown never fires
    emu.busy(runtime_name, False)       # idle again from now
    emu.activity(runtime_name)          # a keystroke: its idle timeout starts again
    emu.service.idle_stops, emu.counts["AssignNotebookRuntime"], emu.violations
    emu.stop()

Also runnable as `python -m tests.emulators.colab --port N` (control API under /_emulator/:
POST inject {method, error, location, count}, POST busy {runtime, busy}, POST activity
{runtime}, GET state, counts, violations).
"""
from __future__ import annotations

import threading

from .server import Emulator, serve
from .service import Delays

__all__ = ["ColabEmulator", "Delays"]


class ColabEmulator(Emulator):
    """The emulator plus its server thread."""

    def __init__(self, project: str = "test-project", delays: Delays | None = None,
                 port: int = 0):
        super().__init__(project, delays)
        self._port = port
        self._server = None
        self._thread: threading.Thread | None = None

    def start(self) -> "ColabEmulator":
        self._server = serve(self, port=self._port)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="colab-emulator")
        self._thread.start()
        return self

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return {"NBCTL_COLAB_ENDPOINT": self.url, "NBCTL_GCP_ANONYMOUS": "1",
                "GOOGLE_CLOUD_PROJECT": self.project}

    def busy(self, runtime: str, busy: bool = True) -> None:
        """Mark the runtime (full resource name) busy, or idle from now on."""
        with self.clock.lock:
            self.service.set_busy(runtime, busy)

    def activity(self, runtime: str) -> None:
        """Activity on the runtime now: its idle timeout starts again."""
        with self.clock.lock:
            self.service.touch(runtime)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
