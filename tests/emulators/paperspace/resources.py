"""The Paperspace API's resources in the fake: machines, machine events, startup scripts and
OS templates, with the handler of each endpoint. A handler is named for its method and route
(`_patch_machines_id_start` answers PATCH /machines/{id}/start), runs under the server's lock,
and raises ApiError for an answer other than 200. Reference data and error texts: reference.py.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from .life import Life, now_iso
from .reference import CAPACITY, MACHINE_TYPES, REGION_CODES, TEMPLATES, UNKNOWN_TEXT


@dataclass
class Delays:
    """Seconds each transition takes before the machine reaches its next state."""

    provision: float = 0.3
    start: float = 0.2
    stop: float = 0.2
    delete: float = 0.2


class ApiError(Exception):
    """An answer other than 200, as Paperspace shapes its error object."""

    def __init__(self, status: int, code: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details

    def body(self) -> dict:
        out = {"message": self.message, "code": self.code}
        if self.details:
            out["details"] = self.details
        return out


class Resources(Life):
    """The resource half of the emulator; the class using it sets the attributes below."""

    delays: Delays
    page_size: int
    unavailable: set[tuple[str, str]]  # (machineType, region): availability says no
    out_of_capacity: set[tuple[str, str]]  # availability says yes, yet creating is refused
    failing: dict[tuple[str, str], str]  # provisioning fails with this event error

    # -- machines -----------------------------------------------------------------------------------
    def _get_machines(self, query, **_):
        items = [m for m in list(self.machines.values()) if self._advance(m)]
        for field in ("name", "region", "agentType", "machineType"):
            if field in query:
                items = [m for m in items if m[field] == query[field]]
        return self._page([self._view(m) for m in items], query)

    def _get_machines_id(self, params, **_):
        return self._view(self._machine(params["id"]))

    def _post_machines(self, body, **_):
        kind, region = body["machineType"], body["region"]
        # Texts of these refusals are unknown (UNKNOWN_TEXT); the status and code are the
        # OpenAPI's error response.
        if region not in REGION_CODES:  # "East Coast (NY2)", not "ny2": see reference.py
            raise ApiError(400, "BAD_REQUEST", f"invalid region {region} {UNKNOWN_TEXT}")
        if kind not in MACHINE_TYPES:
            raise ApiError(400, "BAD_REQUEST", f"invalid machine type {kind} {UNKNOWN_TEXT}")
        if REGION_CODES[region] not in MACHINE_TYPES[kind]:  # the availability page's table
            raise ApiError(400, "BAD_REQUEST", f"{kind} is not offered in {region} {UNKNOWN_TEXT}")
        if body["templateId"] not in {t["id"] for t in TEMPLATES}:
            raise ApiError(404, "NOT_FOUND", f"template not found {UNKNOWN_TEXT}")
        script = body.get("startupScriptId")
        if script is not None and script not in self.scripts:
            raise ApiError(404, "NOT_FOUND", f"startup script not found {UNKNOWN_TEXT}")
        if (kind, region) in self.unavailable or (kind, region) in self.out_of_capacity:
            raise ApiError(400, "BAD_REQUEST", CAPACITY)  # status unknown; text: reference.py
        now = time.monotonic()
        start = body.get("startOnCreate", False)
        failure = self.failing.get((kind, region))
        mid = "ps" + uuid.uuid4().hex[:8]
        m = {
            "id": mid, "name": body["name"], "state": "provisioning", "os": "Ubuntu 22.04",
            "machineType": kind, "agentType": "LinuxHost", "cpus": 8,
            "ram": 48 * 2**30, "storageTotal": body["diskSize"] * 2**30, "storageUsed": 0,
            "accelerators": [], "region": region, "privateIp": "10.0.0.%d" % (len(self.machines) + 2),
            "networkId": body.get("networkId"), "publicIp": None,
            "publicIpType": body.get("publicIpType", "dynamic"),
            "autoShutdownEnabled": body.get("autoShutdownEnabled", False),
            "autoShutdownTimeout": body.get("autoShutdownTimeout"),
            "autoShutdownForce": body.get("autoShutdownForce", False),
            "autoSnapshotEnabled": body.get("autoSnapshotEnabled", False),
            "autoSnapshotFrequency": body.get("autoSnapshotFrequency"),
            "autoSnapshotSaveCount": body.get("autoSnapshotSaveCount"), "updatesPending": False,
            "restorePointEnabled": False, "restorePointFrequency": None,
            "restorePointSnapshotId": None, "usageRate": 0.76, "storageRate": 0.0,
            "dtCreated": now_iso(), "dtModified": now_iso(), "dtDeleted": None, "reservation": None,
            # A failed provisioning leaves the machine in "provisioning" (the state enum has no
            # failed state); its create event ends in state "error".
            "_phases": [] if failure else [(now + self.delays.provision,
                                            "ready" if start else "off")],
            "_gone_at": None, "_script": script, "_boots": 0, "_idle_since": None, "_busy": False,
        }
        self.machines[mid] = m
        if script:
            self.scripts[script]["assignedMachineIds"].append(mid)
        event = self._new_event("create", mid, now + self.delays.provision, error=failure)
        return {"event": self._raw(event), "data": self._view(m)}

    def _put_machines_id(self, params, body, **_):
        m = self._machine(params["id"])
        m.update(body)
        if m["state"] == "ready":  # a changed auto-shutdown setting counts idleness from now
            m["_idle_since"] = time.monotonic()
        m["dtModified"] = now_iso()
        return {"event": self._raw(self._new_event("vm-upgrade", m["id"], time.monotonic())),
                "data": self._view(m)}

    def _delete_machines_id(self, params, **_):
        m = self._machine(params["id"])
        m["dtDeleted"] = now_iso()
        m["_phases"] = []
        m["_gone_at"] = time.monotonic() + self.delays.delete
        if self.guests is not None:  # its guest shuts down; the power goes when it is gone
            self.guests.shut_down(m["id"])
        return {"event": self._raw(self._new_event("deactivate", m["id"], m["_gone_at"])),
                "data": self._view(m)}

    def _patch_machines_id_start(self, params, **_):
        m = self._machine(params["id"])
        if m["state"] != "off":
            raise ApiError(400, "BAD_REQUEST", f"cannot start a machine that is {m['state']} "
                                               f"{UNKNOWN_TEXT}")
        return self._transition(m, "start", "starting", self.delays.start, "ready")

    def _patch_machines_id_stop(self, params, **_):
        m = self._machine(params["id"])
        if m["state"] != "ready":
            raise ApiError(400, "BAD_REQUEST", f"cannot stop a machine that is {m['state']} "
                                               f"{UNKNOWN_TEXT}")
        return self._transition(m, "stop", "stopping", self.delays.stop, "off")

    def _patch_machines_id_restart(self, params, **_):
        m = self._machine(params["id"])
        return self._transition(m, "restart", "restarting", self.delays.start, "ready")

    def _transition(self, m: dict, event: str, now_state: str, delay: float, then: str) -> dict:
        at = time.monotonic() + delay
        self._enter(m, now_state, time.monotonic())
        m["_phases"] = [(at, then)]
        return {"event": self._raw(self._new_event(event, m["id"], at)), "data": self._view(m)}

    def _get_machine_availability(self, query, **_):
        return {"available": (query["machineType"], query["region"]) not in self.unavailable}

    def _get_machine_events(self, query, **_):
        items = [self._event_view(e) for e in self.events.values()
                 if query.get("machineId") in (None, e["machineId"])]
        return self._page(items, query)

    def _get_machine_events_id(self, params, **_):
        ev = self.events.get(params["id"])
        if ev is None:
            raise ApiError(404, "NOT_FOUND", f"event not found {UNKNOWN_TEXT}")
        return self._event_view(ev)

    def _get_os_templates(self, query, **_):
        items = [{**t, "availableMachineTypes": [{"machineTypeLabel": mt, "isAvailable": True}
                                                 for mt in sorted(MACHINE_TYPES)]}
                 for t in TEMPLATES]
        return self._page(items, query)

    # -- startup scripts ----------------------------------------------------------------------------
    def _get_startup_scripts(self, query, **_):
        items = [self._script_view(s) for s in self.scripts.values()]
        if "name" in query:
            items = [s for s in items if s["name"] == query["name"]]
        return self._page(items, query)

    def _post_startup_scripts(self, body, **_):
        sid = "ss" + uuid.uuid4().hex[:8]
        self.scripts[sid] = {"id": sid, "name": body["name"], "description": None,
                             "isEnabled": True, "isRunOnce": body.get("isRunOnce", False),
                             "assignedMachineIds": [], "dtCreated": now_iso(), "dtDeleted": None,
                             "_script": body["script"]}
        return self._script_view(self.scripts[sid])

    def _get_startup_scripts_id(self, params, **_):
        return self._script_view(self._script(params["id"]))

    def _put_startup_scripts_id(self, params, body, **_):
        s = self._script(params["id"])
        for k, v in body.items():
            s["_script" if k == "script" else k] = v
        return self._script_view(s)

    def _delete_startup_scripts_id(self, params, **_):
        s = self.scripts.pop(self._script(params["id"])["id"])
        return self._script_view(s)

    # -- helpers ---------------------------------------------------------------------------------------
    def _machine(self, mid: str) -> dict:
        m = self.machines.get(mid)
        if m is None or not self._advance(m):
            raise ApiError(404, "NOT_FOUND", f"machine not found {UNKNOWN_TEXT}")
        return m

    def _script(self, sid: str) -> dict:
        s = self.scripts.get(sid)
        if s is None:
            raise ApiError(404, "NOT_FOUND", f"startup script not found {UNKNOWN_TEXT}")
        return s

    @staticmethod
    def _view(m: dict) -> dict:
        return {k: v for k, v in m.items() if not k.startswith("_")}

    _raw = _view

    @staticmethod
    def _script_view(s: dict) -> dict:
        return {k: (list(v) if isinstance(v, list) else v) for k, v in s.items()
                if not k.startswith("_")}

    def _page(self, items: list[dict], query: dict) -> dict:
        items = sorted(items, key=lambda i: (i.get("dtCreated") or "", i["id"]),
                       reverse=query.get("order", "desc") == "desc")
        start = 0
        if "after" in query:
            ids = [i["id"] for i in items]
            start = ids.index(query["after"]) + 1 if query["after"] in ids else len(ids)
        size = min(int(query.get("limit", self.page_size)), self.page_size)
        page = items[start:start + size]
        more = start + size < len(items)
        return {"hasMore": more, "nextPage": page[-1]["id"] if more and page else None,
                "items": page}
