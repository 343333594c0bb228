"""The agent against a real Jupyter server with a real kernel: a kernel executing a long cell
keeps the machine up; the same server idle is stopped at the first check past the timeout
(scripts/bench_agent_idle.py measures that in seconds)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.agent.fakes import agent_state, free_port, start_agent, wait_for, wait_for_checks

pytestmark = pytest.mark.slow
jupyter_client = pytest.importorskip("jupyter_client")
pytest.importorskip("jupyter_server")
pytest.importorskip("ipykernel")

TOKEN = "real-server-token"
TIMEOUT, INTERVAL = 2.0, 0.5


class Server:
    def __init__(self, tmp_path: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.runtime = tmp_path / "runtime"
        self.token_file = tmp_path / "token"
        self.token_file.write_text(TOKEN)
        (tmp_path / "notebooks").mkdir()
        env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(self.runtime),
                   JUPYTER_CONFIG_DIR=str(tmp_path / "config"), JUPYTER_PLATFORM_DIRS="1")
        self.log = open(tmp_path / "jupyter.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jupyter_server", "--ServerApp.ip=127.0.0.1",
             f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
             f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={tmp_path / 'notebooks'}",
             "--no-browser", "--allow-root"], env=env, stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(lambda: self.proc.poll() is not None or self._answers(), 120, step=0.2,
                 what="jupyter_server to answer (see jupyter.log)")
        if self.proc.poll() is not None:
            raise RuntimeError("jupyter_server exited at start; see jupyter.log")

    def api(self, method: str, path: str, body: dict | None = None):
        req = urllib.request.Request(
            f"{self.url}{path}", method=method, headers={"Authorization": f"token {TOKEN}"},
            data=json.dumps(body).encode() if body is not None else None)
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read() or b"null")

    def _answers(self) -> bool:
        try:
            return "started" in self.api("GET", "/api/status")
        except OSError:
            return False

    def start_kernel(self) -> str:
        kid = self.api("POST", "/api/kernels", {"name": "python3"})["id"]
        wait_for((self.runtime / f"kernel-{kid}.json").exists, 60,
                 what=f"kernel {kid} to write its connection file")
        return kid

    def client(self, kid: str):
        """A real kernel client, on the kernel's own connection file."""
        kc = jupyter_client.BlockingKernelClient(
            connection_file=str(self.runtime / f"kernel-{kid}.json"))
        kc.load_connection_file()
        # no heartbeat channel: its 1 s deadline reads a busy machine's kernel as dead
        kc.start_channels(hb=False)
        kc.wait_for_ready(timeout=60)
        return kc

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture
def server(tmp_path):
    srv = Server(tmp_path)
    yield srv
    srv.close()


def _agent(server: Server, tmp_path: Path):
    return start_agent("--jupyter-url", server.url, "--token-file", str(server.token_file),
                       "--idle-timeout", str(TIMEOUT), "--interval", str(INTERVAL),
                       "--stop-command", f"echo stop >> {tmp_path / 'stopped'}",
                       "--state-file", str(tmp_path / "state.json"))


def test_kernel_running_a_long_cell_is_not_stopped(server, tmp_path):
    kc = server.client(server.start_kernel())
    release = tmp_path / "release"
    try:
        # a cell that runs until the test lets it end, however long the agent takes to watch
        msg_id = kc.execute("import os, time\n"
                            f"while not os.path.exists({str(release)!r}): time.sleep(0.05)")
        wait_for(lambda: any(k["execution_state"] == "busy"
                             for k in server.api("GET", "/api/kernels")), 60,
                 what="the kernel to report the cell busy")
        agent = _agent(server, tmp_path)
        try:
            # checks are at least an interval apart: these cover more than the idle timeout
            state = wait_for_checks(tmp_path / "state.json", int(TIMEOUT / INTERVAL) + 3)
            assert agent.poll() is None
            assert not (tmp_path / "stopped").exists() and "stopped_at" not in state
            assert state["idle"] is False
            assert any(r.endswith("busy") for r in state["reasons"])
        finally:
            agent.kill()
            agent.wait()
        release.touch()
        reply = kc.get_shell_msg(timeout=60)  # the cell ran to its end, undisturbed
        while reply["parent_header"].get("msg_id") != msg_id:  # e.g. a late kernel_info reply
            reply = kc.get_shell_msg(timeout=60)
        assert reply["content"]["status"] == "ok"
    finally:
        kc.stop_channels()


def test_idle_server_is_stopped_at_the_first_check_past_the_timeout(server, tmp_path):
    kc = server.client(server.start_kernel())
    kc.execute_interactive("x = 1", timeout=60)  # the kernel's last activity is now
    kc.stop_channels()
    agent = _agent(server, tmp_path)
    try:
        assert agent.wait(timeout=120) == 0
    finally:
        agent.kill()
        agent.wait()
    assert (tmp_path / "stopped").read_text() == "stop\n"
    state = agent_state(tmp_path / "state.json")
    assert state["idle_seconds"] >= TIMEOUT
    # the check before (if the agent, slow to start, made one) had not yet seen the timeout
    # pass: the stop came within one interval of it on the agent's clock
    assert state["checks"] == 1 or state["idle_before"] < TIMEOUT
