"""A GCE VM's notebook opens only through `nbctl open`'s SSH tunnel.

The emulated VM runs its start-up script and a real jupyter-lab, and has an sshd that honours
only the keys in its `ssh-keys` metadata (tests/emulators/gcp/guest_ssh.py). Its emulated
external IP is a loopback address of its own, so "from outside" is that address.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.agent.fakes import free_port
from tests.conftest import REPO, run_nbctl, wait_for
from tests.emulators.gcp import Delays, GcpEmulator

pytestmark = pytest.mark.slow
ZONE = "us-central1-a"


@pytest.fixture
def cloud(tmp_path):
    emu = GcpEmulator(delays=Delays(operation=0.05, provision=0.2, stop=0.1, delete=0.1,
                                    wait_timeout=1.0, notice=0.0), run_vms=True,
                      jupyter=True).start()
    port = free_port()
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(f'[providers.gcp]\njupyter_port = {port}\n')
    env = {**emu.env(), "NBCTL_HOME": str(home)}
    yield emu, env, port
    emu.stop()
    assert emu.violations == []


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0


def up(emu, env, name="sp1"):
    res = run_nbctl("up", name, "--provider", "gcp", "--gpu", "t4", "--preemptible",
                    "--zone", ZONE, "--output", "json", env=env)
    assert res.returncode == 0, res.stderr
    vm = emu.compute.vms.vms[(ZONE, name)]
    token_file = vm.root / "opt/nbctl/jupyter-token"
    wait_for(lambda: token_file.exists() and token_file.read_text().strip(), 120,
             what="the token")
    return vm, token_file.read_text().strip()


def open_tunnel(env) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "nbctl_cloud", "open", "sp1"], env={**os.environ, "PYTHONPATH": str(REPO), **env},
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_notebook_opens_only_through_nbctl_open(cloud):
    emu, env, port = cloud
    vm, token = up(emu, env)
    opener = open_tunnel(env)
    try:
        line = opener.stdout.readline()
        assert line, opener.stderr.read()
        url = line.strip()
        base = url.split("/lab")[0]
        assert base.startswith("http://127.0.0.1:") and f"token={token}" in url
        wait_for(lambda: status(f"{base}/api/status?token={token}") == 200, 120,
                 what="Jupyter via ssh")
        assert status(f"{base}/api/status") == 403  # the tunnel is no way around the token
    finally:
        opener.terminate()
        opener.wait(timeout=60)
    # from outside, the VM's Jupyter port is closed: it listens on the VM's loopback only
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((vm.address, port), timeout=10).close()


def test_vm_sshd_refuses_a_key_not_in_its_ssh_keys_metadata(cloud, tmp_path):
    emu, env, _ = cloud
    vm, token = up(emu, env)
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    res = subprocess.run(
        ["ssh", "-i", str(other), "-p", env["NBCTL_GCP_SSH_PORT"], "-o", "BatchMode=yes",
         "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no",
         "-o", f"UserKnownHostsFile={tmp_path / 'kh'}", f"nbctl-admin@{vm.address}",
         "sudo cat \"${NBCTL_ROOT:-}/opt/nbctl/jupyter-token\""],
        capture_output=True, text=True, timeout=60)
    assert res.returncode == 255 and token not in res.stdout
    assert "Permission denied" in res.stderr


def test_token_and_jupyter_log_are_private_and_on_no_command_line(cloud):
    emu, env, _ = cloud
    vm, token = up(emu, env)
    for path in (vm.root / "opt/nbctl/jupyter-token", vm.root / "var/log/nbctl-jupyter.log"):
        assert path.stat().st_mode & 0o077 == 0, f"{path} is readable by others"
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            assert token not in cmdline.read_bytes().decode(errors="replace"), cmdline
        except OSError:
            pass  # a process that ended meanwhile
    assert token not in (vm.root / "startup-script.log").read_text()


def test_an_impostor_on_the_jupyter_port_gets_no_token_and_jupyter_does_not_move(cloud):
    emu, env, port = cloud
    impostor = socket.socket()
    impostor.bind(("127.0.0.1", port))  # an unprivileged user on the VM, first on the port
    impostor.listen()
    try:
        res = run_nbctl("up", "sp1", "--provider", "gcp", "--gpu", "t4", "--preemptible",
                        "--zone", ZONE, env=env)
        assert res.returncode == 0, res.stderr
        vm = emu.compute.vms.vms[(ZONE, "sp1")]
        log = vm.root / "var/log/nbctl-jupyter.log"
        # port_retries=0: Jupyter ends instead of serving on another port
        wait_for(lambda: log.exists() and "already in use" in log.read_text(), 120,
                 what="Jupyter's end")
        state = vm.root / "var/lib/nbctl/agent-state.json"
        wait_for(lambda: state.exists() and "not held by our Jupyter" in state.read_text(),
                 120, what="the agent's verdict")
        impostor.settimeout(0.5)
        with pytest.raises(socket.timeout):
            impostor.accept()  # the agent never connected: no token was offered
    finally:
        impostor.close()
