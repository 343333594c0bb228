"""Emulated EC2 instances that boot for real, each with its own instance metadata service.

When an emulated instance reaches `running`, it boots: what cloud-init would run of its user
data at this boot (see cloud_init.py: a `#!` user-data script runs at the first boot of the
instance only, as on EC2; a `#cloud-boothook`, a per-boot part, scripts-user set to `always`,
or an executable in var/lib/cloud/scripts/per-boot/ run at every boot) runs as local
processes in one process group of its own, under a root folder of its own: NBCTL_ROOT, the
prefix nbctl's boot scripts put before /opt/nbctl, /var/lib/nbctl ..., the same convention
as the Compute Engine emulator's VMs, so one boot script runs on both. The root is the
instance's EBS root volume: it outlives a stop, and goes with a terminate. cloud-init's own
files are where it keeps them: the scripts under var/lib/cloud/instances/<id>/, the
once-per-instance semaphore at var/lib/cloud/instances/<id>/sem/config_scripts_user, their
output in var/log/cloud-init-output.log.

A stop or terminate (by the user, by EC2 at the end of a spot interruption notice, or by a
power-off from the guest) is the guest OS's shutdown: its processes get SIGTERM when the
instance starts `stopping` / `shutting-down`, and SIGKILL (the power goes) when it is
`stopped` / `terminated` (moto_ext.DELAYS.stop / .delete later).

The instance reaches http://169.254.169.254 as on EC2: its http_proxy is its own IMDS (see
imds.py), new at each boot; what else it reaches on loopback (the emulated S3 and EC2 APIs, at
AWS_ENDPOINT_URL when the emulator sets `endpoint`, with the credentials an instance profile
would give it) it reaches directly. Its PATH holds `python3` (a Deep Learning AMI's Python: the
test environment's packages without nbctl, see tests/emulators/guest.py), `sudo`
(passwordless, as for
ec2-user), `shutdown`, `poweroff` and `systemctl poweroff` (a guest power-off: EC2 stops or
terminates the instance as its InstanceInitiatedShutdownBehavior says), then /usr/bin:/bin.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..guest import base_env, image_python, power_off, signal_machine, wipe, write_tools
from ..guest import boot as run_boot
from . import cloud_init
from .imds import Imds, user_data_bytes

TICK_SECONDS = 0.02  # how often the runtime looks at the instances' states
GOING = ("stopping", "shutting-down")
DOWN = ("stopped", "terminated")
POWER_OFF = ("#!/bin/sh\n# a power-off from the guest: EC2 acts on its shutdown behaviour\n"
             "exec python3 -c \"import urllib.request as u; u.urlopen(u.Request("
             "'http://169.254.169.254/emulator/poweroff', data=b'', method='POST'), "
             "timeout=30)\"\n")


@dataclass
class Machine:
    """One emulated instance as the runtime keeps it."""

    instance_id: str
    region: str
    root: Path
    proc: subprocess.Popen | None = None  # its boot's process group leader
    imds: Imds | None = None
    shutting_down: bool = False  # SIGTERM sent for this boot
    boots: list[float] = field(default_factory=list)  # when each boot began (epoch seconds)
    ran: list[list[str]] = field(default_factory=list)  # what cloud-init ran at each boot
    ignored: list[str] = field(default_factory=list)  # user data formats not emulated

    @property
    def up(self) -> bool:
        return self.imds is not None

    @property
    def log(self) -> Path:
        return self.root / "var/log/cloud-init-output.log"


class Ec2Runtime:
    """The processes and metadata services of the emulated instances of one account."""

    def __init__(self, account: str, base_dir: str | None = None,
                 network: dict[str, str] | None = None):
        self.account = account
        self.network = dict(network or {})  # what the instances' processes get to reach AWS
        self.base = Path(base_dir or tempfile.mkdtemp(prefix="ec2-instances-"))
        self.machines: dict[str, Machine] = {}
        self.lock = threading.RLock()
        self._closed = threading.Event()
        self._watcher = threading.Thread(target=self._watch_forever, daemon=True,
                                         name="ec2-instances")
        self._watcher.start()

    # -- following EC2's states ------------------------------------------------------------
    def _backends(self):
        from moto.ec2.models import ec2_backends

        return list(dict.items(ec2_backends[self.account]))

    def sync(self) -> None:
        """Boot, shut down, power off or throw away each machine as its instance's state
        says now."""
        with self.lock:
            seen = set()
            for region, backend in self._backends():
                for inst in backend.all_instances():
                    seen.add(inst.id)
                    self._follow(region, inst, inst._state.name)
            for gone in [i for i in self.machines if i not in seen]:  # an emulator reset
                self.destroy(gone)

    def _follow(self, region: str, inst, state: str) -> None:
        m = self.machines.get(inst.id)
        if m is None:
            if state != "running":
                return
            m = self.machines[inst.id] = Machine(inst.id, region, self.base / inst.id)
        if state == "running" and not m.up:
            self.boot(m, inst)
        elif state in GOING and m.up and not m.shutting_down:
            self.shut_down(m)
        elif state in DOWN and m.up:
            self.halt(m)
        if state == "terminated":
            self.destroy(inst.id)

    def _watch_forever(self) -> None:
        while not self._closed.wait(TICK_SECONDS):
            try:
                self.sync()
            except RuntimeError:  # moto's dicts changed under us (a reset): look again
                continue

    # -- a machine's life ------------------------------------------------------------------
    def boot(self, m: Machine, inst) -> None:
        """Start the IMDS and run what cloud-init runs of the user data at this boot."""
        m.shutting_down = False
        m.boots.append(time.time())
        bin_dir = m.root / "emulator-bin"
        _write_bin(bin_dir, image_python(self.base / "image-python"))
        backend = inst.ec2_backend
        m.imds = Imds(lambda: backend.get_instance_by_id(m.instance_id), m.region,
                      lambda: self.power_off(m.instance_id))
        sem = m.root / "var/lib/cloud/instances" / m.instance_id / "sem/config_scripts_user"
        plan = cloud_init.plan(user_data_bytes(inst), first_boot=not sem.exists())
        sem.parent.mkdir(parents=True, exist_ok=True)
        sem.touch()
        m.ignored = plan.ignored
        run: list[tuple[str, Path]] = []
        for name, text in plan.run:
            where = "boothooks" if name.startswith("boothook") else "scripts"
            path = m.root / "var/lib/cloud/instances" / m.instance_id / where / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(text)
            path.chmod(0o700)
            run.append((name, path))
        # scripts_per_boot runs what is in scripts/per-boot (executables, by name) after the
        # boothooks and before the user-data scripts (cloud-init's cloud_final_modules order)
        per_boot = m.root / "var/lib/cloud/scripts/per-boot"
        hooks = sum(1 for name, _ in run if name.startswith("boothook"))
        run[hooks:hooks] = [(f"per-boot/{p.name}", p) for p in sorted(per_boot.glob("*"))
                            if p.is_file() and os.access(p, os.X_OK)]
        m.ran.append([name for name, _ in run])
        if not run:
            return
        lines = ["#!/bin/sh", "# what cloud-init runs at this boot, in its order"]
        lines += [f"INSTANCE_ID={m.instance_id} '{path}'" for _, path in run]
        driver = m.root / "var/lib/cloud/boot.sh"
        driver.write_text("\n".join(lines) + "\n")
        m.proc = run_boot(m.root, ["/bin/sh", str(driver)], self.env(m), m.log)

    def env(self, m: Machine) -> dict[str, str]:
        """The environment of the machine's boot processes: root, PATH, and its IMDS."""
        return {**base_env(m.root), "http_proxy": m.imds.proxy,
                "no_proxy": "127.0.0.1,localhost", **self.network}

    def shut_down(self, m: Machine) -> None:
        """The guest OS's shutdown at the start of a stop: SIGTERM to its processes."""
        m.shutting_down = True
        signal_machine(m.proc, signal.SIGTERM)

    def halt(self, m: Machine) -> None:
        """Power off: kill every process of the machine and its IMDS. Its disk stays."""
        power_off(m.proc)
        m.proc = None
        if m.imds is not None:
            m.imds.close()
            m.imds = None

    def destroy(self, instance_id: str) -> None:
        """Terminated: power off and delete the root volume."""
        m = self.machines.pop(instance_id, None)
        if m is None:
            return
        self.halt(m)
        wipe(m.root)

    def power_off(self, instance_id: str) -> None:
        """A power-off from inside the guest: EC2 stops the instance, or terminates it if its
        InstanceInitiatedShutdownBehavior is terminate (a spot request sees a user stop)."""
        from moto.ec2.models.instances import StateReason

        with self.lock:
            m = self.machines.get(instance_id)
            if m is None:
                return
            backend = dict(self._backends())[m.region]
            inst = backend.get_instance_by_id(instance_id)
            if inst.instance_initiated_shutdown_behavior == "terminate":
                backend.terminate_instances([instance_id])
            else:
                backend.stop_instances([instance_id])
            inst.state_reason = StateReason(
                "Client.InstanceInitiatedShutdown: Instance initiated shutdown",
                "Client.InstanceInitiatedShutdown")

    def close(self) -> None:
        self._closed.set()
        self._watcher.join(timeout=5)
        with self.lock:
            for instance_id in list(self.machines):
                self.destroy(instance_id)
        shutil.rmtree(self.base, ignore_errors=True)


def _write_bin(bin_dir: Path, python: Path) -> None:
    write_tools(bin_dir, {
        "python3": f'#!/bin/sh\nexec {python} "$@"\n',
        "sudo": "#!/bin/sh\n# a passwordless sudoer; here, all is one user\nexec \"$@\"\n",
        "shutdown": POWER_OFF,
        "poweroff": POWER_OFF,
        "systemctl": ('#!/bin/sh\n# only `systemctl poweroff` is emulated\n'
                      '[ "$1" = poweroff ] || exit 1\n' + POWER_OFF.split("\n", 2)[2]),
    })
