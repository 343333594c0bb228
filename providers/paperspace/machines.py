"""Paperspace machines as nbctl notebooks: find, create, stop, start, delete, over API v1.

Endpoints used (https://docs.digitalocean.com/reference/paperspace/api-reference/):
  GET    /machines?name=            list (cursor pages)        GET /machines/{id}
  POST   /machines                  create                     PUT /machines/{id}  update
  PATCH  /machines/{id}/start|stop  start / stop               DELETE /machines/{id}
  GET    /machine-availability      capacity of a type in a region
  GET    /machine-events?machineId= a machine's events: a failed create shows only there
  GET    /os-templates              to resolve the ML-in-a-Box template
  GET|POST|PUT|DELETE /startup-scripts[/{id}]   nbctl's marker and boot script (see marker.py)
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from nbctl_cloud.errors import (
    CapacityError,
    NbctlError,
    NotFound,
    Scope,
    TransientError,
    UserError,
)
from nbctl_cloud.model import Instance

from .api import Api
from .marker import Marker
from .settings import JUPYTER_PORT, ML_TEMPLATE_NAME, REGION_NAMES, Settings
from .states import machine_state

if TYPE_CHECKING:
    from nbctl_cloud.tunnel import SshRoute

BACKEND = "machines"
# The agent stops the machine from inside; Paperspace sees a guest shutdown as "off".
STOP_COMMAND = "shutdown -h now"
_NO_START_NEEDED = {"ready", "starting", "provisioning", "serviceready", "restarting", "upgrading"}
_NO_STOP_NEEDED = {"off", "stopping"}
# States a machine passes through on its own: a start or stop refused in one is tried again.
_REGION_CODES = {name: code for code, name in REGION_NAMES.items()}
_MOVING = {"starting", "stopping", "restarting", "provisioning", "serviceready", "upgrading"}


def shutdown_hours(idle_seconds: int) -> int:
    """Paperspace's `autoShutdownTimeout` counts whole hours: round up, at least 1."""
    return max(1, math.ceil(idle_seconds / 3600))


def rounding_note(idle_seconds: int) -> str | None:
    hours = shutdown_hours(idle_seconds)
    if hours * 3600 == idle_seconds:
        return None
    return (f"Paperspace auto-shutdown counts whole hours: set to {hours}h for the requested "
            f"{idle_seconds // 60}m; nbctl's agent on the machine still stops it after "
            f"{idle_seconds // 60}m idle")


@dataclass
class Found:
    """One nbctl machine: its API object and the startup script that marks it."""

    machine: dict
    script: dict
    marker: Marker


class Machines:
    def __init__(self, api: Api, settings: Settings, owner: str):
        self.api = api
        self.settings = settings
        self.owner = owner
        self._ids: dict[str, tuple[str, dict, Marker]] = {}  # name -> (machine id, script, marker)
        self._template: str | None = settings.template_id

    # -- finding ours ------------------------------------------------------------------------
    def our_scripts(self, name: str | None = None) -> list[tuple[dict, Marker]]:
        """nbctl's startup scripts of this owner (and name)."""
        out = []
        for script in self.api.pages("startup-scripts"):
            m = Marker.parse(script.get("name"))
            if m and m.owner == self.owner and (name is None or m.name == name) \
                    and not script.get("dtDeleted"):
                out.append((script, m))
        return out

    def find(self, name: str) -> Found | None:
        """The machine nbctl made under this name for this owner, or None."""
        cached = self._ids.get(name)
        if cached:
            machine_id, script, marker = cached
            try:
                return Found(self.api.call("GET", f"machines/{machine_id}"), script, marker)
            except NotFound:
                self._ids.pop(name, None)
        found = self.find_all(name)
        return found[0] if found else None

    def find_all(self, name: str, scripts: list[tuple[dict, Marker]] | None = None) -> list[Found]:
        """Every machine marked as ours under this name, newest first (normally one).
        `scripts`: our scripts of this name, when just listed."""
        scripts = self.our_scripts(name) if scripts is None else scripts
        owners = {mid: (s, m) for s, m in scripts for mid in s.get("assignedMachineIds") or ()}
        if not owners:
            return []
        found = [Found(mach, *owners[mach["id"]])
                 for mach in self.api.pages("machines", {"name": name}) if mach.get("id") in owners]
        found.sort(key=lambda f: str(f.machine.get("dtCreated") or ""), reverse=True)
        if found:
            self._ids[name] = (found[0].machine["id"], found[0].script, found[0].marker)
        return found

    def list(self) -> list[Found]:
        """Every machine of this owner that nbctl made: one scripts listing beside one machines
        listing (each followed over its pages)."""
        from nbctl_cloud.locations import each_place
        scripts, machines = each_place(lambda ask: ask(), [self.our_scripts,
                                                           lambda: self.api.pages("machines")])
        owners = {mid: (s, m) for s, m in scripts for mid in s.get("assignedMachineIds") or ()}
        return [Found(mach, *owners[mach["id"]]) for mach in machines if mach.get("id") in owners]

    # -- creating ---------------------------------------------------------------------------
    def create(self, *, marker: Marker, machine_type: str, region: str, disk_gb: int,
               idle_timeout: int | None, startup_script: str,
               template_id: str | None = None) -> tuple[Found, str | None]:
        """Create the machine this marker marks; returns it and a note (the hour rounding of
        the idle timeout, if any). Paperspace has no idempotency key; the marker plays its
        part: a create retried after Paperspace accepted it (a lost answer, a kill) finds the
        machine its marker script is assigned to, and posts nothing."""
        scripts = self.our_scripts(marker.name)
        accepted = [f for f in self.find_all(marker.name, scripts) if f.marker == marker]
        if accepted:
            return accepted[0], None
        self.check_capacity(machine_type, region)
        template_id = template_id or self.template_id()
        script = self._marker_script(marker, startup_script, scripts)
        body = {
            "name": marker.name, "machineType": machine_type, "templateId": template_id,
            "diskSize": disk_gb, "region": REGION_NAMES[region], "publicIpType": "dynamic",
            "startupScriptId": script["id"], "startOnCreate": True, "emailPassword": False,
            "autoShutdownEnabled": bool(idle_timeout),
        }
        note = None
        if idle_timeout:
            body["autoShutdownTimeout"] = shutdown_hours(idle_timeout)
            note = rounding_note(idle_timeout)
        # Not retried blindly: after a transient failure, look again before posting again,
        # since the request may have been accepted (the script's assignment shows it).
        from nbctl_cloud import retry
        found = retry.call(self._post_machine, marker, body)
        self._ids[marker.name] = (found.machine["id"], found.script, marker)
        return found, note

    def _post_machine(self, marker: Marker, body: dict) -> Found:
        for f in self.find_all(marker.name):
            return f
        answer = self.api.call("POST", "machines", body=body, retried=False) or {}
        machine = answer.get("data") or {}
        if not machine.get("id"):
            raise NbctlError("Paperspace accepted the machine but returned no machine id")
        script = {"id": body["startupScriptId"], "name": marker.script_name}
        return Found(machine, script, marker)

    def _marker_script(self, marker: Marker, content: str,
                       scripts: list[tuple[dict, Marker]]) -> dict:
        """The startup script that marks this machine: an unassigned one left by an earlier
        attempt (among `scripts`) is reused (with fresh content), else a new one is made."""
        for script, m in scripts:
            if m == marker and not script.get("assignedMachineIds"):
                self.api.call("PUT", f"startup-scripts/{script['id']}",
                              body={"name": marker.script_name, "script": content,
                                    "isRunOnce": False, "isEnabled": True})
                return script
        return self.api.call("POST", "startup-scripts",
                             body={"name": marker.script_name, "script": content,
                                   "isRunOnce": False})

    def check_capacity(self, machine_type: str, region: str) -> None:
        answer = self.api.call("GET", "machine-availability",
                               params={"machineType": machine_type,
                                       "region": REGION_NAMES[region]}) or {}
        if answer.get("available") is False:
            raise CapacityError(f"Paperspace has no {machine_type} available in {region} right "
                                f"now", scope=Scope.ZONE, code="unavailable")

    def template_id(self) -> str:
        """The configured template, else the newest OS template named like ML-in-a-Box."""
        if self._template:
            return self._template
        matches = [t for t in self.api.pages("os-templates")
                   if ML_TEMPLATE_NAME.lower() in str(t.get("name", "")).lower()]
        if not matches:
            raise UserError(f"no Paperspace OS template named like {ML_TEMPLATE_NAME!r} was "
                            f"found: set template_id under [providers.paperspace] in config.toml")
        matches.sort(key=lambda t: str(t.get("dtCreated") or ""), reverse=True)
        self._template = str(matches[0]["id"])
        return self._template

    # -- acting on one machine ----------------------------------------------------------------
    def stop(self, name: str) -> None:
        self._act(self.require(name), "stop", _NO_STOP_NEEDED)

    def start(self, name: str) -> None:
        self._act(self.require(name), "start", _NO_START_NEEDED)

    def _act(self, f: Found, verb: str, not_needed: set[str]) -> None:
        seen = [f.machine.get("state")]  # the state last seen before sending
        if seen[0] in not_needed:
            return
        from nbctl_cloud import retry
        retry.call(self._act_once, f.machine["id"], verb, not_needed, seen)

    def _act_once(self, machine_id: str, verb: str, not_needed: set[str], seen: list) -> None:
        try:
            self.api.call("PATCH", f"machines/{machine_id}/{verb}", retried=False)
        except UserError:
            # Paperspace refuses a start or stop between states in words it does not
            # document: the machine's own `state` decides. Refused while it was moving (or
            # is moving now): try again; refused while settled: the user's error.
            state = (self.api.call("GET", f"machines/{machine_id}") or {}).get("state")
            if state in not_needed:
                return
            was, seen[0] = seen[0], state
            if state in _MOVING or was in _MOVING:
                raise TransientError(f"Paperspace machine {machine_id} is {state}: "
                                     f"{verb} is tried again") from None
            raise

    def failure(self, machine: dict) -> str | None:
        """Why Paperspace could not create this machine, or None. Such a machine keeps the
        state "provisioning" (the Machine state enum has no failed state); its `create`
        event ends in state "error" with the reason (MachineEvent in the API reference)."""
        if machine.get("state") != "provisioning" or machine.get("dtDeleted"):
            return None
        for event in self.api.pages("machine-events", {"machineId": machine["id"]}):
            if event.get("name") == "create" and event.get("state") == "error":
                return str(event.get("error") or "no reason given")
        return None

    def delete(self, name: str) -> None:
        """Delete every machine marked with this name, then their marker scripts."""
        for f in self.find_all(name):
            if not f.machine.get("dtDeleted"):
                self._quietly("DELETE", f"machines/{f.machine['id']}")
        self._ids.pop(name, None)
        for script, _ in self.our_scripts(name):
            self._quietly("DELETE", f"startup-scripts/{script['id']}")

    def set_idle_shutdown(self, name: str, timeout_seconds: int | None) -> str | None:
        f = self.require(name)
        body: dict = {"autoShutdownEnabled": bool(timeout_seconds)}
        note = None
        if timeout_seconds:
            body["autoShutdownTimeout"] = shutdown_hours(timeout_seconds)
            note = rounding_note(timeout_seconds)
        self.api.call("PUT", f"machines/{f.machine['id']}", body=body)
        return note

    def notebook_url(self, name: str) -> "SshRoute":
        from nbctl_cloud.bootscript import SSH_USER, TOKEN_COMMAND
        from nbctl_cloud.tunnel import SshRoute, instance_key

        f = self.require(name)
        ip = f.machine.get("publicIp")
        if not ip:
            raise NbctlError(f"{name} has no public IP yet: wait until it is RUNNING")
        return SshRoute(host=ip, port=self.settings.ssh_port, user=SSH_USER,
                        key_path=instance_key("paperspace", name)[0],
                        host_alias=f"paperspace-{name}-{f.machine['id']}",
                        remote_port=JUPYTER_PORT, token_command=TOKEN_COMMAND)

    def require(self, name: str) -> Found:
        f = self.find(name)
        if f is None:
            raise NotFound(f"no Paperspace machine named {name!r} made by nbctl for "
                           f"{self.owner}: see `nbctl status --refresh`")
        return f

    def _quietly(self, method: str, path: str) -> None:
        try:
            self.api.call(method, path)
        except NotFound:
            pass  # already gone: deleting is idempotent


def to_instance(f: Found, provider: str, gpu_of: dict[str, tuple[str, int]],
                detail: str | None = None, failure: str | None = None) -> Instance:
    """The normalized Instance of a machine (no url: `nbctl open` tunnels); `failure`: why
    Paperspace could not create it (see Machines.failure), making it FAILED."""
    m = f.machine
    if failure:
        detail = f"Paperspace could not create the machine: {failure}"
    gpu, count = gpu_of.get(str(m.get("machineType")), (None, 0))
    if detail is None and m.get("autoShutdownEnabled") and m.get("autoShutdownTimeout"):
        detail = f"Paperspace auto-shutdown after {m['autoShutdownTimeout']:g}h idle"
    return Instance(
        name=f.marker.name, provider=provider,
        state=machine_state(m.get("state"), deleted=bool(m.get("dtDeleted")),
                            failed=bool(failure)),
        native_id=m.get("id"), zone=_REGION_CODES.get(m.get("region"), m.get("region")),
        gpu=gpu, gpu_count=count,
        preemptible=False, backend=BACKEND,
        labels=dict(f.marker.labels), created_at=_when(m.get("dtCreated")), detail=detail)


def _when(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
