"""How `nbctl open` reaches the Jupyter of a cloud VM: an SSH tunnel with a per-instance key.

A VM's Jupyter listens on the VM's 127.0.0.1 only, as an unprivileged user, with a token that
lives in a 0600 file on the VM and nowhere else. nbctl makes one ed25519 key pair per instance
(the private key 0600 under the user's nbctl data dir, never in the state store); the provider
puts the public key where its cloud installs it (GCE `ssh-keys` metadata, the boot script on
EC2 and Paperspace). `open` runs the system `ssh` client: once to read the token over the
channel, then with `-N -L` to forward a local port to the VM's Jupyter, for as long as it runs.

Host keys: trust on first use. The first connection to a VM records its host key, under an
alias naming the VM's own id, in a known_hosts file of nbctl's, with a warning; any later
connection to a key that differs is refused by ssh. A re-created VM (a new id) is a new host.
"""
from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import NbctlError, UserError

KEY_TYPE = "ed25519"
CONNECT_SECONDS = 60.0  # how long `open` waits for the forward before it gives up, loudly


@dataclass(frozen=True)
class SshRoute:
    """Where a VM's notebook is and how to reach it through SSH."""

    host: str
    user: str
    key_path: Path
    host_alias: str  # names this VM (with its id) in the known_hosts file
    remote_port: int  # Jupyter's port on the VM's loopback
    token_command: str  # prints Jupyter's token on the VM
    port: int = 22
    path: str = "/lab"


def key_dir() -> Path:
    from .config import data_dir
    d = data_dir() / "ssh"
    d.mkdir(mode=0o700, exist_ok=True)
    return d


def instance_key(provider: str, name: str) -> tuple[Path, str]:
    """(private key path, public key line) of this instance, made at the first call."""
    path = key_dir() / f"{provider}-{name}"
    if not path.exists():
        try:
            subprocess.run(["ssh-keygen", "-q", "-t", KEY_TYPE, "-N", "", "-C",
                            f"nbctl-{provider}-{name}", "-f", str(path)],
                           check=True, capture_output=True, timeout=60)
        except FileNotFoundError:
            raise UserError("ssh-keygen not found: install the OpenSSH client") from None
        except subprocess.CalledProcessError as e:
            raise NbctlError(f"ssh-keygen failed: {e.stderr.decode(errors='replace').strip()}")
    path.chmod(0o600)
    return path, path.with_suffix(".pub").read_text().strip()


def known_hosts() -> Path:
    return key_dir() / "known_hosts"


def _ssh(route: SshRoute) -> list[str]:
    return ["ssh", "-i", str(route.key_path), "-p", str(route.port),
            "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=20",
            "-o", f"UserKnownHostsFile={known_hosts()}", "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", f"HostKeyAlias={route.host_alias}", "-o", "StrictHostKeyChecking=accept-new",
            "-o", "HashKnownHosts=no",
            "-o", "LogLevel=ERROR", f"{route.user}@{route.host}"]


def _known(alias: str) -> bool:
    path = known_hosts()
    return path.exists() and any(line.split(" ", 1)[0] == alias
                                 for line in path.read_text().splitlines())


def read_token(route: SshRoute) -> str:
    """Jupyter's token, read on the VM through the SSH channel."""
    if not _known(route.host_alias):
        print(f"nbctl: first connection to {route.host_alias}: trusting its SSH host key on "
              f"first use; it is recorded in {known_hosts()}", file=sys.stderr)
    try:
        out = subprocess.run(_ssh(route) + [route.token_command], capture_output=True,
                             text=True, timeout=CONNECT_SECONDS)
    except FileNotFoundError:
        raise UserError("ssh not found: install the OpenSSH client") from None
    except subprocess.TimeoutExpired:
        raise NbctlError(f"no SSH answer from {route.host}:{route.port} within "
                         f"{CONNECT_SECONDS:.0f}s; is the VM up and port {route.port} open?")
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["no message"])[-1]
        raise NbctlError(f"SSH to {route.host}:{route.port} failed: {last}")
    return out.stdout.strip()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Tunnel:
    """`with Tunnel(route) as t:` t.url opens the notebook while the block runs."""

    def __init__(self, route: SshRoute):
        self.route = route
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def __enter__(self) -> "Tunnel":
        token = read_token(self.route)
        port = _free_port()
        self.proc = subprocess.Popen(
            _ssh(self.route)[:1] + ["-N", "-o", "ExitOnForwardFailure=yes", "-L",
                                    f"127.0.0.1:{port}:127.0.0.1:{self.route.remote_port}"]
            + _ssh(self.route)[1:], stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + CONNECT_SECONDS
        while not self._accepts(port):
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace").strip()
                raise NbctlError(f"the SSH tunnel to {self.route.host} ended: {err or 'no message'}")
            if time.monotonic() > deadline:
                self.close()
                raise NbctlError(f"the SSH tunnel to {self.route.host} did not open within "
                                 f"{CONNECT_SECONDS:.0f}s")
            time.sleep(0.1)
        query = f"?token={token}" if token else ""
        self.url = f"http://127.0.0.1:{port}{self.route.path}{query}"
        return self

    @staticmethod
    def _accepts(port: int) -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            return True
        except OSError:
            return False

    def wait(self) -> int:
        """Block while the tunnel runs (until ssh ends or the user interrupts); a SIGTERM
        leaves through __exit__, so ssh goes with it."""
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        return self.proc.wait() if self.proc else 0

    def close(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def __exit__(self, *exc) -> None:
        self.close()
