"""The start-up script every machine runs at boot: installs the agent (embedded, no download),
starts Jupyter and the agent; safe to run again; never shows the token.

Scripts run for real here, with NBCTL_ROOT pointing at a temporary folder and a fake
`jupyter-lab` on PATH that serves the fake Jupyter API on the port it is given."""
from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
from nbctl_cloud.bootscript import agent_command, agent_source, startup_script

from tests.agent.fakes import free_port, install_fake_jupyter_lab, wait_for

SAGEMAKER_LIFECYCLE_LIMIT = 16384  # characters of the base64-encoded OnStart content


def _bash_n(script: str, tmp_path: Path) -> subprocess.CompletedProcess:
    path = tmp_path / "startup.sh"
    path.write_text(script)
    return subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)


def test_a_wrapper_embedding_the_agent_fits_a_sagemaker_lifecycle_config():
    wrapper = ("#!/bin/bash\nmkdir -p /opt/nbctl\ncat > /opt/nbctl/nbctl_agent.py <<'EOF'\n"
               + agent_source() + "EOF\n"
               + agent_command(stop_command="true", idle_timeout=3600) + " &\n")
    assert len(base64.b64encode(wrapper.encode())) < SAGEMAKER_LIFECYCLE_LIMIT


def test_whole_startup_script_fits_a_sagemaker_lifecycle_config():
    script = startup_script(stop_command="shutdown -h now", idle_timeout=2700, preemption="ec2",
                            metadata_url="http://169.254.169.254",
                            authorized_key="ssh-ed25519 " + "A" * 68 + " nbctl-aws-sp1")
    assert len(base64.b64encode(script.encode())) < SAGEMAKER_LIFECYCLE_LIMIT


@pytest.mark.parametrize("options", [
    {},
    {"preemption": "gce", "metadata_url": "http://metadata.google.internal"},
    {"preemption": "ec2", "idle_timeout": None, "start_jupyter": False},
    {"authorized_key": "ssh-ed25519 AAAA it's \"quoted\" $(not run)", "notebook_dir": "/home/a b"},
])
def test_startup_script_is_valid_bash(options, tmp_path):
    script = startup_script(stop_command="shutdown -h now", **{"idle_timeout": 3600, **options})
    result = _bash_n(script, tmp_path)
    assert result.returncode == 0, result.stderr


def test_unknown_preemption_kind_is_refused():
    with pytest.raises(ValueError, match="preemption"):
        startup_script(stop_command="true", idle_timeout=60, preemption="azure")


def test_agent_watches_for_notices_and_signals_jobs_only_when_asked():
    plain = agent_command(stop_command="true", idle_timeout=60)
    spot = agent_command(stop_command="true", idle_timeout=60, preemption="gce",
                         metadata_url="http://169.254.169.254")
    assert "--preemption none" in plain and "--signal-jobs" not in plain
    assert "--preemption gce" in spot and "--signal-jobs" in spot
    assert "--metadata-url http://169.254.169.254" in spot


@pytest.fixture
def machine(tmp_path):
    """Run start-up scripts as a machine would, under NBCTL_ROOT=tmp; kill what they started."""
    root = tmp_path / "root"
    bindir = tmp_path / "bin"
    bindir.mkdir()
    record = tmp_path / "jupyter-runs.jsonl"
    install_fake_jupyter_lab(bindir, record)
    env = dict(os.environ, NBCTL_ROOT=str(root), PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}")
    env.pop("PYTHONPATH", None)
    started: set[int] = set()

    class Machine:
        def __init__(self):
            self.root, self.record, self.port = root, record, free_port()
            self.stopped = tmp_path / "stopped"

        def boot(self, **options) -> subprocess.CompletedProcess:
            options = {"stop_command": f"echo stop >> {self.stopped}", "idle_timeout": 3600,
                       "interval": 1, "jupyter_port": self.port, **options}
            path = tmp_path / "startup.sh"
            path.write_text(startup_script(**options))
            result = subprocess.run(["bash", str(path)], env=env, capture_output=True,
                                    text=True, timeout=30)
            for name in ("jupyter", "agent"):
                if self.pid(name):
                    started.add(self.pid(name))
            return result

        def pid(self, name: str) -> int | None:
            f = root / "run" / "nbctl" / f"{name}.pid"
            return int(f.read_text()) if f.exists() else None

        def state(self) -> dict:
            f = root / "var" / "lib" / "nbctl" / "agent-state.json"
            return json.loads(f.read_text()) if f.exists() else {}

    yield Machine()
    for pid in started:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in _proc_state(pid)


def _proc_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "Z"


def test_script_installs_the_agent_verbatim(machine):
    result = machine.boot()
    assert result.returncode == 0, result.stderr
    assert (machine.root / "opt/nbctl/nbctl_agent.py").read_text() == agent_source()


def test_script_starts_jupyter_and_an_agent_that_stops_the_idle_machine(machine):
    machine.boot(idle_timeout=1)
    assert wait_for(machine.record.exists, 60)
    run = json.loads(machine.record.read_text().splitlines()[0])
    assert f"--port={machine.port}" in run["argv"] and run["token_in_env"]
    assert wait_for(machine.stopped.exists, 60)
    assert machine.state()["stop_reason"].startswith("idle for")


def test_second_boot_keeps_jupyter_and_restarts_the_agent(machine):
    machine.boot()
    assert wait_for(machine.record.exists, 60)
    jupyter, agent = machine.pid("jupyter"), machine.pid("agent")
    result = machine.boot()
    assert result.returncode == 0, result.stderr
    assert machine.pid("jupyter") == jupyter
    assert len(machine.record.read_text().splitlines()) == 1  # Jupyter started once
    assert machine.pid("agent") != agent
    assert wait_for(lambda: not _alive(agent), 60)
    assert _alive(machine.pid("agent"))


def test_token_never_shows_in_output_logs_or_command_lines(machine):
    result = machine.boot()
    assert wait_for(lambda: machine.state().get("checked_at") is not None, 60)
    secret = (machine.root / "opt/nbctl/jupyter-token").read_text()
    logs = "".join(p.read_text() for p in (machine.root / "var/log").glob("*.log"))
    cmdlines = "".join(Path(f"/proc/{machine.pid(n)}/cmdline").read_text()
                       for n in ("jupyter", "agent"))
    for text in (result.stdout, result.stderr, logs, cmdlines, json.dumps(machine.state())):
        assert secret not in text
    token_file = machine.root / "opt/nbctl/jupyter-token"
    assert token_file.stat().st_mode & 0o077 == 0


def test_the_token_is_made_on_the_machine_once(machine):
    machine.boot()
    token_file = machine.root / "opt/nbctl/jupyter-token"
    first = token_file.read_text()
    machine.boot()
    assert len(first) >= 32
    assert token_file.read_text() == first


def test_without_jupyter_only_the_agent_starts(machine):
    result = machine.boot(start_jupyter=False)
    assert result.returncode == 0, result.stderr
    assert machine.pid("jupyter") is None
    assert not machine.record.exists()
    assert machine.pid("agent") is not None


def test_job_dir_is_not_writable_by_other_users(machine):
    machine.boot()
    assert (machine.root / "var/lib/nbctl/jobs").stat().st_mode & 0o7777 == 0o755
