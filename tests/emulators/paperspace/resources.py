"""The Paperspace API's resources in the fake: machines, startup scripts and OS templates, with
the handler of each endpoint. A handler is named for its method and route
(`_patch_machines_id_start` answers PATCH /machines/{id}/start), runs under the server's lock,
and raises ApiError for an answer other than 200.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

from .schema import REGIONS

CAPACITY_MESSAGE = ("We are currently out of capacity for the selected VM type. Try again in a "
                    "few minutes, or select a different instance.")
MACHINE_TYPES = {"P4000", "P5000", "P6000", "RTX4000", "A4000", "A4000x2", "A4000x4", "A5000",
                 "A5000x2", "A6000", "A6000x2", "V100", "V100-32Gx4", "A100", "A100-80G",
                 "A100-80Gx8", "H100", "H100x8", "C4", "C5", "C7"}
TEMPLATES = [  # OS templates as GET /os-templates lists them (ids are the fake's own)
    {"id": "tmlinabox22", "name": "ML-in-a-Box Ubuntu 22.04", "agentType": "LinuxHost",
     "operatingSystemLabel": "Ubuntu 22.04", "defaultSizeGb": 100,
     "dtCreated": "2024-03-01T00:00:00.000Z"},
    {"id": "tmlinabox20", "name": "ML-in-a-Box Ubuntu 20.04", "agentType": "LinuxHost",
     "operatingSystemLabel": "Ubuntu 20.04", "defaultSizeGb": 100,
     "dtCreated": "2022-01-01T00:00:00.000Z"},
    {"id": "tubuntu2204", "name": "Ubuntu 22.04 Server", "agentType": "LinuxHost",
     "operatingSystemLabel": "Ubuntu 22.04", "defaultSizeGb": 50,
     "dtCreated": "2023-05-01T00:00:00.000Z"},
]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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


class Resources:
    """The resource half of the emulator; the class using it sets the attributes below."""

    delays: Delays
    page_size: int
    machines: dict[str, dict]
    scripts: dict[str, dict]
    unavailable: set[tuple[str, str]]  # (machineType, region)

    # -- machines -----------------------------------------------------------------------------------
    def _get_machines(self, query, **_):
        items = [m for m in self.machines.values() if self._advance(m)]
        if "name" in query:
            items = [m for m in items if m["name"] == query["name"]]
        if "region" in query:
            items = [m for m in items if m["region"] == query["region"]]
        return self._page([self._view(m) for m in items], query)

    def _get_machines_id(self, params, **_):
        return self._view(self._machine(params["id"]))

    def _post_machines(self, body, **_):
        if body["machineType"] not in MACHINE_TYPES:
            raise ApiError(400, "BAD_REQUEST", f"Invalid machine type: {body['machineType']}")
        if body["region"] not in REGIONS:
            raise ApiError(400, "BAD_REQUEST", f"Invalid region: {body['region']}")
        if body["templateId"] not in {t["id"] for t in TEMPLATES}:
            raise ApiError(404, "NOT_FOUND", "Template not found")
        script = body.get("startupScriptId")
        if script is not None and script not in self.scripts:
            raise ApiError(404, "NOT_FOUND", "Startup script not found")
        if (body["machineType"], body["region"]) in self.unavailable:
            raise ApiError(400, "BAD_REQUEST", CAPACITY_MESSAGE)
        now = time.monotonic()
        start = body.get("startOnCreate", False)
        mid = "ps" + uuid.uuid4().hex[:8]
        m = {
            "id": mid, "name": body["name"], "state": "provisioning", "os": "Ubuntu 22.04",
            "machineType": body["machineType"], "agentType": "LinuxHost", "cpus": 8,
            "ram": 48 * 2**30, "storageTotal": body["diskSize"] * 2**30, "storageUsed": 0,
            "accelerators": [], "region": body["region"], "privateIp": "10.0.0.%d" % (len(self.machines) + 2),
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
            "dtCreated": _now(), "dtModified": _now(), "dtDeleted": None, "reservation": None,
            "_phases": [(now + self.delays.provision, "ready" if start else "off")],
            "_gone_at": None, "_script": script,
        }
        self.machines[mid] = m
        if script:
            self.scripts[script]["assignedMachineIds"].append(mid)
        return {"event": self._event("create", mid), "data": self._view(m)}

    def _put_machines_id(self, params, body, **_):
        m = self._machine(params["id"])
        m.update(body)
        m["dtModified"] = _now()
        return {"event": self._event("vm-upgrade", m["id"]), "data": self._view(m)}

    def _delete_machines_id(self, params, **_):
        m = self._machine(params["id"])
        m["dtDeleted"] = _now()
        m["_phases"] = []
        m["_gone_at"] = time.monotonic() + self.delays.delete
        return {"event": self._event("deactivate", m["id"]), "data": self._view(m)}

    def _patch_machines_id_start(self, params, **_):
        m = self._machine(params["id"])
        if m["state"] != "off":
            raise ApiError(400, "BAD_REQUEST", f"This machine is currently {m['state']}."
                           if m["state"] != "ready" else "This machine is already running.")
        m["state"] = "starting"
        m["_phases"] = [(time.monotonic() + self.delays.start, "ready")]
        return {"event": self._event("start", m["id"]), "data": self._view(m)}

    def _patch_machines_id_stop(self, params, **_):
        m = self._machine(params["id"])
        if m["state"] != "ready":
            raise ApiError(400, "BAD_REQUEST", f"This machine is currently {m['state']}."
                           if m["state"] != "off" else "This machine is already off.")
        m["state"] = "stopping"
        m["_phases"] = [(time.monotonic() + self.delays.stop, "off")]
        return {"event": self._event("stop", m["id"]), "data": self._view(m)}

    def _patch_machines_id_restart(self, params, **_):
        m = self._machine(params["id"])
        m["state"] = "restarting"
        m["_phases"] = [(time.monotonic() + self.delays.start, "ready")]
        return {"event": self._event("restart", m["id"]), "data": self._view(m)}

    def _get_machine_availability(self, query, **_):
        return {"available": (query["machineType"], query["region"]) not in self.unavailable}

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
                             "assignedMachineIds": [], "dtCreated": _now(), "dtDeleted": None,
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
    def _advance(self, m: dict) -> bool:
        """Apply due state changes; False once a deleted machine is gone."""
        now = time.monotonic()
        if m["_gone_at"] is not None and now >= m["_gone_at"]:
            self.machines.pop(m["id"], None)
            for s in self.scripts.values():
                if m["id"] in s["assignedMachineIds"]:
                    s["assignedMachineIds"].remove(m["id"])
            return False
        while m["_phases"] and m["_phases"][0][0] <= now:
            m["state"] = m["_phases"].pop(0)[1]
        m["publicIp"] = "203.0.113.%d" % (int(m["id"][2:4], 16) % 250 + 1) \
            if m["state"] == "ready" else m["publicIp"]
        return True

    def _machine(self, mid: str) -> dict:
        m = self.machines.get(mid)
        if m is None or not self._advance(m):
            raise ApiError(404, "NOT_FOUND", "Machine not found")
        return m

    def _script(self, sid: str) -> dict:
        s = self.scripts.get(sid)
        if s is None:
            raise ApiError(404, "NOT_FOUND", "Startup script not found")
        return s

    @staticmethod
    def _view(m: dict) -> dict:
        return {k: v for k, v in m.items() if not k.startswith("_")}

    @staticmethod
    def _script_view(s: dict) -> dict:
        return {k: (list(v) if isinstance(v, list) else v) for k, v in s.items()
                if not k.startswith("_")}

    def _event(self, name: str, mid: str) -> dict:
        return {"id": "ev" + uuid.uuid4().hex[:8], "name": name, "state": "new", "machineId": mid,
                "dtCreated": _now(), "dtStarted": None, "dtFinished": None, "error": None}

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
