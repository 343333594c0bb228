"""Emulated Compute Engine VMs that run for real, each with its own metadata server.

When an emulated VM reaches RUNNING, it "boots": its `startup-script` metadata runs as a local
bash process in a process group of its own, under a root folder of its own (NBCTL_ROOT, the
prefix the start-up script puts before /opt/nbctl, /var/lib/nbctl ...). The folder outlives a
stop, as a boot disk does, and goes with a delete. Stopping, deleting or preempting the VM kills
its whole process group (SIGKILL: the power goes). A preemption notice first sends SIGTERM to the
group and runs the `shutdown-script`, as the guest's ACPI soft-off does.

The VM reaches `http://metadata.google.internal` as on GCE: its HTTP proxy (http_proxy) is a
metadata server that knows only this VM, so the start-up script is byte for byte what a real VM
runs. It answers `/computeMetadata/v1/instance/...` (name, id, zone, preempted, attributes/,
attributes/<key> with `?wait_for_change=true&last_etag=...&timeout_sec=...`) and
`/computeMetadata/v1/project/project-id`, only with `Metadata-Flavor: Google`, like the real one.

The VM's PATH holds `python3`, a `shutdown` that asks the emulator to stop the VM (what halting
a GCE VM does), `sudo` (the ssh-keys user's, passwordless), with `jupyter=True` a `jupyter-lab` (a
Deep Learning VM image has one), then /usr/bin:/bin.

That `python3` stands for a Deep Learning VM image's own Python (docs: deep-learning-vm/docs/images:
a conda Python with numpy and the frameworks, and no nbctl): see tests/emulators/guest.py
`image_python`. So nbctl is not importable on the VM unless nbctl carries its runtime there
itself, as it must on a real VM.

Each VM has its own loopback address, 127.0.0.N, standing in for its external IP: its sshd
(guest_ssh.py) listens there at the emulator's one SSH port, and anything the VM binds to
0.0.0.0 is reachable there too, as on a VM with a public IP and an open firewall.
"""
from __future__ import annotations

import hashlib
import itertools
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs, urlsplit

from ..guest import image_python, power_off, signal_machine, wipe, write_tools

TICK_SECONDS = 0.02  # how often time moves while VMs run (a notice ends on time, unpolled)
MAX_WAIT_FOR_CHANGE = 60.0


@dataclass
class Vm:
    zone: str
    name: str
    root: Path
    proc: subprocess.Popen | None = None
    shutdown: subprocess.Popen | None = None  # its shutdown-script, during a preemption notice
    server: ThreadingHTTPServer | None = None
    preempted: bool = False
    address: str = ""  # its loopback address, the emulated external IP
    boots: list[float] = field(default_factory=list)  # when each boot began (epoch seconds)

    @property
    def key(self) -> tuple[str, str]:
        return self.zone, self.name


def etag(value: str | None) -> str:
    """The value's ETag; a missing key has one too, so a client can wait for it to appear."""
    return hashlib.sha256(b"\0absent" if value is None else value.encode()).hexdigest()[:16]


class VmRuntime:
    """The processes and metadata servers of the emulated VMs.

    `instance(zone, name)` gives the VM's Instance JSON (or None once deleted);
    `guest_shutdown(zone, name)` is what `shutdown -h now` on the VM asks the cloud for. Both
    are called with `lock` held, the emulator's state lock.
    """

    def __init__(self, lock: threading.RLock, tick: Callable[[], None],
                 instance: Callable[[str, str], dict | None],
                 guest_shutdown: Callable[[str, str], None], project: str,
                 base_dir: str | None = None, jupyter: bool = False):
        self.lock = lock
        self.tick = tick
        self.instance = instance
        self.guest_shutdown = guest_shutdown
        self.project = project
        self.base = Path(base_dir or tempfile.mkdtemp(prefix="gce-vms-"))
        self.vms: dict[tuple[str, str], Vm] = {}
        self.jupyter = jupyter
        self._addresses = (f"127.0.{n // 250}.{n % 250 + 2}" for n in itertools.count())
        self._ssh = None  # a GuestSsh once a VM boots
        self._closed = threading.Event()
        self._ticker = threading.Thread(target=self._tick_forever, daemon=True, name="gce-vm-clock")
        self._ticker.start()

    # -- the VM's life ---------------------------------------------------------------------
    def address(self, zone: str, name: str) -> str:
        """The VM's loopback address (its emulated external IP), given at its first boot."""
        vm = self.vms.get((zone, name))
        if vm is None:
            vm = self.vms[(zone, name)] = Vm(zone, name, self.base / zone / name,
                                             address=next(self._addresses))
        return vm.address

    @property
    def ssh_port(self) -> int:
        if self._ssh is None:
            import socket

            from .guest_ssh import GuestSsh
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                self._ssh = GuestSsh(s.getsockname()[1])
        return self._ssh.port

    def boot(self, zone: str, inst: dict) -> None:
        """Run the instance's startup-script, as GCE does when a VM reaches RUNNING."""
        self.address(zone, inst["name"])
        vm = self.vms[(zone, inst["name"])]
        self.halt(zone, inst["name"])
        vm.preempted = False
        vm.boots.append(time.time())
        self._write_bin(vm.root / "emulator-bin")
        vm.server = self._serve_metadata(vm)
        self.ssh_port  # noqa: B018 (starts the sshd loop)
        self._ssh.start(vm.address, vm.root, lambda: self._ssh_keys(vm), lambda: self._env(vm))
        script = _attribute(inst, "startup-script")
        if script is None:
            return
        path = vm.root / "startup-script"
        path.write_text(script)
        log = vm.root / "startup-script.log"
        (vm.root / "root").mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as out:
            vm.proc = subprocess.Popen(["bash", str(path)], cwd=vm.root, env=self._env(vm),
                                       stdin=subprocess.DEVNULL, stdout=out,
                                       stderr=subprocess.STDOUT, start_new_session=True)

    def soft_off(self, zone: str, name: str) -> None:
        """The ACPI G2 soft-off that starts a preemption notice: `instance/preempted` answers
        TRUE from now on, the guest's shutdown sends SIGTERM to its processes and runs the
        `shutdown-script` (docs: compute/docs/instances/spot#preemption-process and
        compute/docs/shutdownscript: "run ... when an instance is preempted"). The power-off
        at the end of the window is `halt`."""
        vm = self.vms.get((zone, name))
        if vm is None:
            return
        vm.preempted = True
        signal_machine(vm.proc, signal.SIGTERM)
        inst = self.instance(zone, name)
        script = _attribute(inst, "shutdown-script") if inst else None
        if script is not None:
            path = vm.root / "shutdown-script"
            path.write_text(script)
            with open(vm.root / "shutdown-script.log", "ab") as out:
                vm.shutdown = subprocess.Popen(["bash", str(path)], cwd=vm.root, env=self._env(vm),
                                               stdin=subprocess.DEVNULL, stdout=out,
                                               stderr=subprocess.STDOUT, start_new_session=True)

    def _env(self, vm: Vm) -> dict[str, str]:
        """The environment of the VM's scripts: its root, PATH, and metadata server."""
        return {"PATH": f"{vm.root / 'emulator-bin'}:/usr/bin:/bin", "NBCTL_ROOT": str(vm.root),
                "HOME": str(vm.root / "root"), "LANG": "C.UTF-8",
                "PYTHONDONTWRITEBYTECODE": "1",
                "http_proxy": f"http://127.0.0.1:{vm.server.server_address[1]}",
                "no_proxy": "127.0.0.1,localhost"}

    def halt(self, zone: str, name: str) -> None:
        """Power off: kill every process of the VM and its metadata server. Its disk stays."""
        vm = self.vms.get((zone, name))
        if vm is None:
            return
        for proc in (vm.proc, vm.shutdown):
            power_off(proc)
        vm.proc = vm.shutdown = None
        if self._ssh is not None:
            self._ssh.stop(vm.address)
        if vm.server is not None:
            server, vm.server = vm.server, None
            threading.Thread(target=_close, args=(server,), daemon=True).start()

    def destroy(self, zone: str, name: str) -> None:
        """Delete: power off and throw the disk away."""
        self.halt(zone, name)
        vm = self.vms.pop((zone, name), None)
        if vm is not None:
            wipe(vm.root)

    def close(self) -> None:
        self._closed.set()
        with self.lock:
            for key in list(self.vms):
                self.halt(*key)
        if self._ssh is not None:
            self._ssh.close()
        shutil.rmtree(self.base, ignore_errors=True)

    def _tick_forever(self) -> None:
        while not self._closed.wait(TICK_SECONDS):
            if self.vms:
                self.tick()

    def _write_bin(self, bin_dir: Path) -> None:
        tools = {
            "python3": f'#!/bin/sh\nexec {image_python(self.base / "image-python")} "$@"\n',
            "shutdown": ("#!/bin/sh\n# halting a GCE VM stops it: ask the emulated cloud\n"
                         "exec curl -s -X POST -H 'Metadata-Flavor: Google' "
                         "http://metadata.google.internal/emulator/shutdown\n"),
            "sudo": "#!/bin/sh\n# the ssh-keys user is a passwordless sudoer; here, all is one user\nexec \"$@\"\n",
        }
        if self.jupyter:
            # the emulated VM runs as whoever runs the tests (root in CI): no user to switch to
            tools["jupyter-lab"] = f'#!/bin/sh\nexec {sys.executable} -m jupyterlab --allow-root "$@"\n'
        write_tools(bin_dir, tools)

    # -- the metadata server ---------------------------------------------------------------
    def _serve_metadata(self, vm: Vm) -> ThreadingHTTPServer:
        runtime = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):
                pass

            def do_GET(self):
                self._answer(*runtime.metadata(vm, "GET", self.path, self.headers))

            def do_POST(self):
                self._answer(*runtime.metadata(vm, "POST", self.path, self.headers))

            def _answer(self, status: int, body: str, headers: dict):
                data = body.encode()
                try:
                    self.send_response(status)
                    for k, v in {"Content-Type": "application/text", "Metadata-Flavor": "Google",
                                 **headers}.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the VM was powered off while it waited for a change

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True, name=f"metadata-{vm.name}").start()
        return server

    def metadata(self, vm: Vm, verb: str, raw: str, headers) -> tuple[int, str, dict]:
        """(status, body, headers) for one metadata request of this VM."""
        parts = urlsplit(raw)  # through the proxy the request line holds the whole URL
        path, query = parts.path, parse_qs(parts.query)
        if headers.get("Metadata-Flavor") != "Google":
            return 403, "Missing Metadata-Flavor:Google header.", {}
        if verb == "POST" and path == "/emulator/shutdown":
            with self.lock:
                self.guest_shutdown(vm.zone, vm.name)
            return 200, "", {}
        prefix = "/computeMetadata/v1/"
        if verb != "GET" or not path.startswith(prefix):
            return 404, "Not Found", {}
        key = path[len(prefix):]
        wait = query.get("wait_for_change", ["false"])[0].lower() == "true"
        last = query.get("last_etag", ["0"])[0]  # GCE's default: answer at once
        timeout = min(float(query.get("timeout_sec", [MAX_WAIT_FOR_CHANGE])[0]), MAX_WAIT_FOR_CHANGE)
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                value = self._value(vm, key)
            tag = etag(value)
            if not wait or tag != last or time.monotonic() >= deadline or vm.server is None:
                break
            time.sleep(0.02)
        if value is None:
            return 404, "Not Found", {"ETag": tag}
        return 200, value, {"ETag": tag}

    def _ssh_keys(self, vm: Vm) -> list[str]:
        # without the lock: a boot holds it while it waits for this sshd to start
        inst = self.instance(vm.zone, vm.name)
        value = _attribute(inst, "ssh-keys") if inst else None
        return (value or "").splitlines()

    def _value(self, vm: Vm, key: str) -> str | None:
        inst = self.instance(vm.zone, vm.name)
        if inst is None:
            return None
        items = {i["key"]: i.get("value", "") for i in (inst.get("metadata") or {}).get("items", [])}
        if key == "instance/attributes/":
            return "".join(f"{k}\n" for k in sorted(items))
        if key.startswith("instance/attributes/"):
            return items.get(key[len("instance/attributes/"):])
        return {
            "instance/name": inst["name"],
            "instance/id": str(inst["id"]),
            "instance/zone": f"projects/{self.project}/zones/{vm.zone}",
            "instance/preempted": "TRUE" if vm.preempted else "FALSE",
            "instance/scheduling/provisioning-model": (inst.get("scheduling") or {}).get(
                "provisioningModel", "STANDARD"),
            "project/project-id": self.project,
        }.get(key)


def _attribute(inst: dict, key: str) -> str | None:
    for item in (inst.get("metadata") or {}).get("items", []):
        if item.get("key") == key:
            return item.get("value")
    return None


def _close(server: ThreadingHTTPServer) -> None:
    server.shutdown()
    server.server_close()
