"""What happens to a fake Paperspace machine as time passes: scheduled state changes, boots
that run the startup script, auto-shutdown of an idle machine, machine events that finish.

Nothing runs in the background: a machine is brought up to date (`_advance`) whenever a
request or a test control looks at it, applying every change that fell due in order. Only when
machines run for real (guests.py) does a clock bring every machine up to date as time passes,
so that their processes get their signals on time.
"""
from __future__ import annotations

import time
import uuid
from datetime import datetime, timezone


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Life:
    """The time half of the emulator; the class using it sets the attributes below."""

    delays: object
    hour_seconds: float
    machines: dict[str, dict]
    scripts: dict[str, dict]
    events: dict[str, dict]
    script_runs: list[dict]
    guests: object | None  # a guests.MachineRuntime when machines run for real

    def _advance(self, m: dict) -> bool:
        """Apply every change that fell due, oldest first; False once a deleted machine is gone."""
        now = time.monotonic()
        if m["_gone_at"] is not None and now >= m["_gone_at"]:
            self.machines.pop(m["id"], None)
            if self.guests is not None:
                self.guests.destroy(m["id"])
            for s in self.scripts.values():
                if m["id"] in s["assignedMachineIds"]:
                    s["assignedMachineIds"].remove(m["id"])
            return False
        while True:
            due = [(m["_phases"][0][0], "phase")] if m["_phases"] else []
            idle_end = self._auto_shutdown_at(m)
            if idle_end is not None:
                due.append((idle_end, "auto-shutdown"))
            if not due or min(due)[0] > now:
                break
            at, kind = min(due)
            if kind == "phase":
                self._enter(m, m["_phases"].pop(0)[1], at)
            else:
                self._auto_shutdown(m, at)
        if m["state"] == "ready":
            m["publicIp"] = "203.0.113.%d" % (int(m["id"][2:4], 16) % 250 + 1)
        return True

    def _enter(self, m: dict, state: str, at: float) -> None:
        """The machine turns `state` at `at`; a machine that runs for real boots at `ready`,
        its guest shuts down at `stopping` / `restarting`, and its power goes at `off`."""
        m["state"] = state
        if state == "ready":
            m["_boots"] += 1
            m["_idle_since"] = at
            script = self._run_startup_script(m, at)
            if self.guests is not None:
                self.guests.boot(m["id"], script)
        elif self.guests is not None and state in ("stopping", "restarting"):
            self.guests.shut_down(m["id"])
        elif self.guests is not None and state == "off":
            self.guests.halt(m["id"])

    # The auto-shutdown timeout counts hours of idleness ("autoShutdownTimeout: The auto
    # shutdown timeout in hours", machines-create in the OpenAPI). `hour_seconds` scales an hour.
    def _auto_shutdown_at(self, m: dict) -> float | None:
        if (m["state"] != "ready" or not m["autoShutdownEnabled"] or not m["autoShutdownTimeout"]
                or m["_busy"] or m["dtDeleted"]):
            return None
        return m["_idle_since"] + m["autoShutdownTimeout"] * self.hour_seconds

    def _auto_shutdown(self, m: dict, at: float) -> None:
        # autoShutdownForce stops the VM even if the guest does not shut down: the OpenAPI's
        # event names "stop" and "vm-shutdown-force" record which one happened.
        self._enter(m, "stopping", at)
        m["_phases"] = [(at + self.delays.stop, "off")]
        self._new_event("vm-shutdown-force" if m["autoShutdownForce"] else "stop", m["id"], at)

    # A power-off from inside the guest (`shutdown -h now`). Paperspace's docs say nothing of
    # it; a VM whose guest powered itself off is off to its host, so the machine turns
    # "stopping" while the guest shuts down, then "off", as after a stop. No machine event is
    # made: every event name of the OpenAPI is an action of the API or of Paperspace itself.
    def _guest_power_off(self, m: dict, at: float) -> None:
        if m["state"] == "ready" and not m["dtDeleted"]:
            self._enter(m, "stopping", at)
            m["_phases"] = [(at + self.delays.stop, "off")]

    # A startup script runs at each boot, or only at the first one when `isRunOnce` ("Whether
    # the script should only run once on first boot or on every boot", startupScripts-create).
    # A disabled script (`isEnabled` false) does not run. The fake records the run, and gives
    # (id, text) of the script that runs, for a machine that runs for real.
    def _run_startup_script(self, m: dict, at: float) -> tuple[str, str] | None:
        s = self.scripts.get(m["_script"] or "")
        if s is None or not s["isEnabled"] or (s["isRunOnce"] and m["_boots"] > 1):
            return None
        self.script_runs.append({"machineId": m["id"], "scriptId": s["id"], "boot": m["_boots"],
                                 "script": s["_script"], "at": at})
        return s["id"], s["_script"]

    # -- machine events (machineEvents-list / -get in the OpenAPI) ---------------------------
    def _new_event(self, name: str, mid: str, done_at: float, *, error: str | None = None) -> dict:
        ev = {"id": "ev" + uuid.uuid4().hex[:8], "name": name, "state": "new", "machineId": mid,
              "dtCreated": now_iso(), "dtStarted": None, "dtFinished": None, "error": None,
              "_due": done_at, "_error": error}
        self.events[ev["id"]] = ev
        return ev

    def _event_view(self, ev: dict) -> dict:
        if ev["state"] in ("new", "in progress"):
            if time.monotonic() >= ev["_due"]:
                ev.update(state="error" if ev["_error"] else "done", error=ev["_error"],
                          dtFinished=now_iso(), dtStarted=ev["dtStarted"] or ev["dtCreated"])
            else:
                ev.update(state="in progress", dtStarted=ev["dtCreated"])
        return {k: v for k, v in ev.items() if not k.startswith("_")}
