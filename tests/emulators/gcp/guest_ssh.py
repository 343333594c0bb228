"""The sshd of an emulated VM: what a Deep Learning VM's OpenSSH server and guest agent allow.

- Only public-key logins, and only with a key listed for that user in the VM's `ssh-keys`
  metadata, "USERNAME:KEY_VALUE" one per line (docs: compute/docs/connect/add-ssh-keys
  "Add SSH keys to instance metadata"; the guest agent makes USERNAME a sudoer, docs:
  compute/docs/instances/access-overview "Linux accounts ... are granted sudo privileges").
  The keys are read at each login, so a metadata change takes effect at once, as there.
- A command runs with bash in the VM's environment (its root, PATH; `sudo` runs it as is).
- TCP forwarding (RFC 4254 7.2 "direct-tcpip") only to the VM's own loopback.
- The host key is made at first boot under the VM's root and stays with its disk.

Each VM listens on its own loopback address (its emulated external IP) at one shared port.
"""
from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Callable

import asyncssh

LOOPBACK = ("127.0.0.1", "localhost")


class _Server(asyncssh.SSHServer):
    def __init__(self, keys: Callable[[], list[str]]):
        self.keys = keys

    def begin_auth(self, username: str) -> bool:
        return True  # every login must authenticate

    def password_auth_supported(self) -> bool:
        return False

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        for line in self.keys():
            user, _, text = line.partition(":")
            if user.strip() != username:
                continue
            try:
                allowed = asyncssh.import_public_key(text.strip())
            except (asyncssh.KeyImportError, ValueError):
                continue
            if allowed.public_data == key.public_data:
                return True
        return False

    def connection_requested(self, dest_host: str, dest_port: int, orig_host: str,
                             orig_port: int):
        if dest_host not in LOOPBACK:
            raise asyncssh.ChannelOpenError(asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED,
                                            "forwarding only to the VM's loopback")
        return True  # asyncssh connects to dest_host:dest_port itself


class GuestSsh:
    """One asyncio loop (a thread) serving the sshd of every emulated VM."""

    def __init__(self, port: int):
        self.port = port
        self.loop = asyncio.new_event_loop()
        self.servers: dict[str, asyncssh.SSHAcceptor] = {}
        self.closing: list = []  # futures of the sshds' closings
        threading.Thread(target=self.loop.run_forever, daemon=True, name="gce-sshd").start()

    def _run(self, coro, timeout: float = 30.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self, address: str, root: Path, keys: Callable[[], list[str]],
              env: Callable[[], dict]) -> None:
        """Serve the VM at `address`; `keys()` gives its ssh-keys lines, `env()` its env."""
        self.stop(address)
        key_path = root / "etc/ssh/ssh_host_ed25519_key"
        if not key_path.exists():
            key_path.parent.mkdir(parents=True, exist_ok=True)
            asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(key_path))

        async def command(process: asyncssh.SSHServerProcess) -> None:
            proc = await asyncio.create_subprocess_exec(
                "bash", "-c", process.command or "true", env=env(), cwd=str(root),
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE)
            out, err = await proc.communicate()
            process.stdout.write(out.decode(errors="replace"))
            process.stderr.write(err.decode(errors="replace"))
            process.exit(proc.returncode)

        async def serve():
            return await asyncssh.create_server(
                lambda: _Server(keys), address, self.port, server_host_keys=[str(key_path)],
                process_factory=command)
        self.servers[address] = self._run(serve())

    def stop(self, address: str) -> None:
        """Close the VM's sshd (close() waits for every closing begun here)."""
        server = self.servers.pop(address, None)
        if server is None:
            return

        async def close():
            server.close()
            await server.wait_closed()
        # not waited for: the caller may hold the lock a login is reading keys under;
        # the loop runs this before any later start on the same address
        self.closing.append(asyncio.run_coroutine_threadsafe(close(), self.loop))

    def close(self) -> None:
        """Close every sshd, then end the loop (after the closings ran, not before)."""
        for address in list(self.servers):
            self.stop(address)
        for future in self.closing:
            try:
                future.result(10)
            except Exception:  # noqa: BLE001 - shutting down: a failed close changes nothing
                pass
        self.loop.call_soon_threadsafe(self.loop.stop)
