"""Fake Paperspace machines that run for real: `PaperspaceEmulator(run_machines=True)`.

When a machine reaches `ready` it boots: its startup script, if it runs at this boot (life.py
decides: `isRunOnce`, `isEnabled`), runs as `bash` (startupScripts-create: "For Linux machines,
the script should be a bash script") in a process group of its own, under a root folder of its
own: NBCTL_ROOT, the prefix nbctl's boot scripts put before /opt/nbctl, /var/lib/nbctl ..., the
same convention as the Compute Engine and EC2 emulators' machines, so one boot script runs on
all three. The script is at <root>/startup-script, its output in <root>/startup-script.log. The
root is the machine's disk: it outlives a stop and a restart, and goes with a delete.

A stop (by the user, by auto-shutdown, by a power-off from the guest) or a restart is the guest
OS's shutdown: its processes get SIGTERM when the machine turns `stopping` / `restarting`, and
SIGKILL (the power goes) when it is `off`, or before it boots again. A delete sends SIGTERM at
once; SIGKILL and the disk's removal come when the machine is gone.

The machine's PATH holds `python3` (the ML-in-a-Box image's own Python, without nbctl: see
guest.image_python), `sudo` (passwordless; here all is one user), `shutdown`, `poweroff` and
`systemctl poweroff` (a power-off from the guest: see Life._guest_power_off), then
/usr/bin:/bin. There is no metadata service: Paperspace documents none.
"""
from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..guest import base_env, image_python, power_off, signal_machine, wipe, write_tools
from ..guest import boot as run_boot

TICK_SECONDS = 0.02  # how often time moves while machines run (a stop ends on time, unpolled)
POWER_OFF = ("#!/bin/sh\n# a power-off from the guest: Paperspace sees the machine turn off\n"
             "exec python3 -c \"import urllib.request as u; u.urlopen(u.Request('{url}', "
             "data=b'', method='POST'), timeout=30)\"\n")


@dataclass
class Machine:
    """One fake machine as the runtime keeps it."""

    machine_id: str
    root: Path
    proc: subprocess.Popen | None = None  # its boot's process group leader
    up: bool = False  # booted and not powered off since
    boots: list[float] = field(default_factory=list)  # when each boot began (epoch seconds)
    ran: list[list[str]] = field(default_factory=list)  # startup script ids run at each boot

    @property
    def log(self) -> Path:
        return self.root / "startup-script.log"


class MachineRuntime:
    """The processes of the fake machines. Every method but `close` is called with `lock`
    held, the emulator's lock; `tick` brings every machine up to date (Life._advance)."""

    def __init__(self, lock: threading.RLock, tick: Callable[[], None], control_url: str,
                 base_dir: str | None = None):
        self.lock = lock
        self.control_url = control_url
        self.base = Path(base_dir or tempfile.mkdtemp(prefix="ps-machines-"))
        self.machines: dict[str, Machine] = {}
        self.python = image_python(self.base / "image-python")  # made once, shared
        self._tick = tick
        self._closed = threading.Event()
        self._ticker = threading.Thread(target=self._tick_forever, daemon=True,
                                        name="ps-machines-clock")
        self._ticker.start()

    def boot(self, machine_id: str, script: tuple[str, str] | None) -> None:
        """The machine boots; script is (id, text) of the startup script that runs now."""
        m = self.machines.get(machine_id)
        if m is None:
            m = self.machines[machine_id] = Machine(machine_id, self.base / machine_id)
        self.halt(machine_id)  # a restart: the power cycles
        m.up = True
        m.boots.append(time.time())
        m.ran.append([script[0]] if script else [])
        poweroff = POWER_OFF.format(url=f"{self.control_url}/guest-poweroff/{machine_id}")
        write_tools(m.root / "emulator-bin", {
            "python3": f'#!/bin/sh\nexec {self.python} "$@"\n',
            "sudo": "#!/bin/sh\n# a passwordless sudoer; here, all is one user\nexec \"$@\"\n",
            "shutdown": poweroff,
            "poweroff": poweroff,
            "systemctl": ('#!/bin/sh\n# only `systemctl poweroff` is emulated\n'
                          '[ "$1" = poweroff ] || exit 1\n' + poweroff.split("\n", 2)[2]),
        })
        if script is None:
            return
        path = m.root / "startup-script"
        path.write_text(script[1])
        m.proc = run_boot(m.root, ["bash", str(path)], base_env(m.root), m.log)

    def shut_down(self, machine_id: str) -> None:
        """The guest OS's shutdown at the start of a stop, restart or delete: SIGTERM."""
        m = self.machines.get(machine_id)
        if m is not None and m.up:
            signal_machine(m.proc, signal.SIGTERM)

    def halt(self, machine_id: str) -> None:
        """Power off: kill every process of the machine. Its disk stays."""
        m = self.machines.get(machine_id)
        if m is not None:
            power_off(m.proc)
            m.proc, m.up = None, False

    def destroy(self, machine_id: str) -> None:
        """The machine is gone: power off and throw its disk away."""
        self.halt(machine_id)
        m = self.machines.pop(machine_id, None)
        if m is not None:
            wipe(m.root)

    def close(self) -> None:
        self._closed.set()
        self._ticker.join(timeout=5)
        with self.lock:
            for machine_id in list(self.machines):
                self.destroy(machine_id)
        shutil.rmtree(self.base, ignore_errors=True)

    def _tick_forever(self) -> None:
        while not self._closed.wait(TICK_SECONDS):
            self._tick()
