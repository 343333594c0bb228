"""A stateful fake of Vertex AI's NotebookService (Colab Enterprise): runtime templates,
runtimes assigned from them, and their long-running operations, in the API's JSON shapes.

Time moves on the emulator's clock (tests/emulators/gcp/state.py): a runtime is BEING_STARTED
before RUNNING and BEING_STOPPED before STOPPED, an operation is not done at once, and a
RUNNING runtime whose template has an idle shutdown stops by itself once nothing marked it
busy for its idle timeout (`idle_seconds_per_minute` scales that timeout's minutes).
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from tests.emulators.gcp.notebooks import rpc_error
from tests.emulators.gcp.state import Clock, Ids, matches_filter, now_iso, parse_filter

from . import reference

V1 = "type.googleapis.com/google.cloud.aiplatform.v1."
TEMPLATE_FILTERS = {"notebookRuntimeTemplate", "displayName", "labels", "notebookRuntimeType",
                    "machineType", "acceleratorType"}
RUNTIME_FILTERS = TEMPLATE_FILTERS | {"notebookRuntime", "healthState", "runtimeState",
                                      "runtimeUser"}


@dataclass
class Delays:
    """Seconds each asynchronous step takes (short by default: tests run on small machines)."""

    operation: float = 0.05  # an operation is done after this
    start: float = 0.3  # BEING_STARTED -> RUNNING
    stop: float = 0.2  # BEING_STOPPED -> STOPPED
    delete: float = 0.1  # a deleted resource is gone after this
    idle_seconds_per_minute: float = 60.0  # a minute of idle timeout lasts this long


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.capitalize() for p in rest)


def _filter(text: str | None, allowed: set[str]) -> list[tuple[str, str, str]]:
    """The documented filter fields (List*Request.filter), snake_case or camelCase."""
    terms = [(_camel(f), op, v) for f, op, v in parse_filter(text)]
    for fld, _op, _v in terms:
        if fld.split(".")[0] not in allowed:
            raise rpc_error(3, f"Unsupported filter field: {fld}.")
    return terms


def _page(items: list[dict], key: str, query: dict) -> dict:
    size = int((query.get("pageSize") or ["0"])[0] or 0) or 100
    start = int((query.get("pageToken") or ["0"])[0] or 0)
    out = {key: items[start:start + size]} if items[start:start + size] else {}
    if start + size < len(items):
        out["nextPageToken"] = str(start + size)
    return out


class NotebookService:
    def __init__(self, project: str, clock: Clock, delays: Delays):
        self.project = project
        self.clock = clock
        self.delays = delays
        self.ids = Ids(4000000000)
        self.templates: dict[str, dict] = {}  # full name -> NotebookRuntimeTemplate JSON
        self.runtimes: dict[str, dict] = {}  # full name -> NotebookRuntime JSON
        self.operations: dict[str, dict] = {}
        self.busy: set[str] = set()  # runtimes a control keeps busy (never idle)
        self.last_activity: dict[str, float] = {}
        self.idle_stops: list[str] = []  # runtimes the idle shutdown stopped, in order

    # -- operations (google.longrunning.Operation) -------------------------------------
    def _operation(self, parent: str, metadata: str, *, then=None, response=None,
                   error: dict | None = None, after: float | None = None) -> dict:
        name = f"{parent}/operations/{self.ids.next()}"
        generic = {"createTime": now_iso(), "updateTime": now_iso()}
        op = {"name": name, "metadata": {"@type": V1 + metadata, "genericMetadata": generic}}
        self.operations[name] = op

        def done():
            generic["updateTime"] = now_iso()
            op["done"] = True
            if error:
                op["error"] = error
                return
            if then:
                then()
            kind, body = response() if callable(response) else (None, {})
            kind = V1 + kind if kind else "type.googleapis.com/google.protobuf.Empty"
            op["response"] = {"@type": kind, **body}
        self.clock.after(self.delays.operation if after is None else after, done)
        return op

    def get_operation(self, name: str) -> dict:
        op = self.operations.get(name)
        if op is None:
            raise rpc_error(5, f"Operation {name} is not found.")
        return op

    # -- templates ---------------------------------------------------------------------
    def _template(self, name: str) -> dict:
        tpl = self.templates.get(name)
        if tpl is None:
            raise rpc_error(5, f"NotebookRuntimeTemplate {name} is not found.")
        return tpl

    def create_template(self, parent: str, query: dict, body: dict, fault: str | None) -> dict:
        tid = (query.get("notebookRuntimeTemplateId") or [""])[0] or self.ids.next()
        if not (tid.isdigit() or reference.ID_RX.fullmatch(tid)):
            raise rpc_error(3, f"Invalid notebook_runtime_template_id: {tid}.")
        name = f"{parent}/notebookRuntimeTemplates/{tid}"
        if name in self.templates:
            raise rpc_error(6, f"NotebookRuntimeTemplate {name} already exists.")
        if not body.get("displayName"):
            raise rpc_error(3, "notebook_runtime_template.display_name is required.")
        problem = reference.machine_problem(body.get("machineSpec") or {})
        if problem:
            raise rpc_error(3, problem)
        _check_idle(body.get("idleShutdownConfig"))
        _check_labels(body.get("labels") or {}, "notebook_runtime_template.labels")
        tpl = {**body, "name": name, "createTime": now_iso(), "updateTime": now_iso(),
               "etag": uuid.uuid4().hex}
        tpl.setdefault("notebookRuntimeType", "USER_DEFINED")
        tpl.setdefault("machineSpec", {"machineType": reference.DEFAULT_MACHINE_TYPE})

        def put():
            self.templates[name] = tpl
        return self._operation(parent, "CreateNotebookRuntimeTemplateOperationMetadata",
                               then=put, response=lambda: ("NotebookRuntimeTemplate", tpl))

    def get_template(self, name: str) -> dict:
        return self._template(name)

    def list_templates(self, parent: str, query: dict) -> dict:
        terms = _filter((query.get("filter") or [None])[0], TEMPLATE_FILTERS)
        items = [t for n, t in sorted(self.templates.items()) if n.startswith(parent + "/")
                 and matches_filter(_view(t), terms)]
        return _page(items, "notebookRuntimeTemplates", query)

    def delete_template(self, name: str) -> dict:
        """Deleting a template that runtimes came from is not refused: Colab Enterprise's
        "Manage runtime templates" page and the proto state no such rule, and a runtime keeps
        its own copy of the template's specification."""
        self._template(name)
        return self._operation(name.split("/notebookRuntimeTemplates/")[0],
                               "DeleteOperationMetadata", after=self.delays.delete,
                               then=lambda: self.templates.pop(name, None))

    # -- runtimes ----------------------------------------------------------------------
    def _runtime(self, name: str) -> dict:
        rt = self.runtimes.get(name)
        if rt is None:
            raise rpc_error(5, f"NotebookRuntime {name} is not found.")
        return rt

    def assign(self, parent: str, body: dict, fault: str | None) -> dict:
        """AssignNotebookRuntime: "either returns an existing assignment or generates a new
        one" (notebook_service.proto): the runtime named by notebookRuntimeId is reused when
        it came from the same template for the same user."""
        tpl_name = body.get("notebookRuntimeTemplate") or ""
        wanted = body.get("notebookRuntime") or {}
        if not tpl_name:
            raise rpc_error(3, "notebook_runtime_template is required.")
        if not wanted.get("runtimeUser"):
            raise rpc_error(3, "notebook_runtime.runtime_user is required.")
        if not wanted.get("displayName"):
            raise rpc_error(3, "notebook_runtime.display_name is required.")
        tpl = self._template(tpl_name)
        if not tpl_name.startswith(parent + "/"):
            raise rpc_error(3, f"NotebookRuntimeTemplate {tpl_name} is not in {parent}.")
        _check_labels(wanted.get("labels") or {}, "notebook_runtime.labels")
        rid = body.get("notebookRuntimeId") or self.ids.next()
        if not (rid.isdigit() or reference.ID_RX.fullmatch(rid)):
            raise rpc_error(3, f"Invalid notebook_runtime_id: {rid}.")
        name = f"{parent}/notebookRuntimes/{rid}"
        meta = "AssignNotebookRuntimeOperationMetadata"
        existing = self.runtimes.get(name)
        if existing is not None:
            same = (existing["notebookRuntimeTemplateRef"]["notebookRuntimeTemplate"] == tpl_name
                    and existing["runtimeUser"] == wanted["runtimeUser"])
            if not same:
                raise rpc_error(6, f"NotebookRuntime {name} already exists.")
            return self._operation(parent, meta, response=lambda: ("NotebookRuntime", existing))
        if fault:
            return self._capacity(fault, parent, meta, tpl)
        spec = {k: v for k, v in tpl.items() if k in (
            "machineSpec", "dataPersistentDiskSpec", "networkSpec", "idleShutdownConfig",
            "eucConfig", "shieldedVmConfig", "networkTags", "softwareConfig", "encryptionSpec",
            "notebookRuntimeType", "serviceAccount")}
        rt = {**spec, "name": name, "runtimeUser": wanted["runtimeUser"],
              "displayName": wanted["displayName"], "description": wanted.get("description", ""),
              "labels": dict(wanted.get("labels") or {}),
              "notebookRuntimeTemplateRef": {"notebookRuntimeTemplate": tpl_name},
              "createTime": now_iso(), "updateTime": now_iso(), "version": "1.0",
              "healthState": "HEALTH_STATE_UNSPECIFIED", "runtimeState": "BEING_STARTED",
              "isUpgradable": False,
              # NotebookRuntime.expiration_time: a user-created runtime expires "6 months
              # after last upgrade".
              "expirationTime": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                              time.gmtime(time.time() + 183 * 86400))}
        self.runtimes[name] = rt
        self._become(rt, "RUNNING", self.delays.start)
        return self._operation(parent, meta, response=lambda: ("NotebookRuntime", rt))

    def _capacity(self, fault: str, parent: str, meta: str, resource: dict) -> dict:
        """No capacity in the region (or no quota): the operation ends with the error, or,
        for the `-now` faults, the call is refused at once with HTTP 429."""
        status = capacity_status(fault.removesuffix("-now"), parent, resource)
        if fault.endswith("-now"):
            raise rpc_error(8, status["message"], status.get("details"))
        return self._operation(parent, meta, error=status)

    def _become(self, rt: dict, state: str, after: float) -> None:
        def go():
            if self.runtimes.get(rt["name"]) is not rt:
                return
            rt["runtimeState"] = state
            rt["updateTime"] = now_iso()
            rt["healthState"] = "HEALTHY" if state == "RUNNING" else "HEALTH_STATE_UNSPECIFIED"
            if state == "RUNNING":
                region = rt["name"].split("/")[3]
                rt["proxyUri"] = (f"https://{rt['name'].rsplit('/', 1)[1]}-dot-{region}"
                                  ".aiplatform-notebook.googleusercontent.com")
                self.touch(rt["name"])
        self.clock.after(after, go)

    # -- idle shutdown -----------------------------------------------------------------
    def _idle_timeout(self, rt: dict) -> float | None:
        cfg = rt.get("idleShutdownConfig") or {}
        if cfg.get("idleShutdownDisabled") or not cfg.get("idleTimeout"):
            return None
        minutes = float(cfg["idleTimeout"].rstrip("s")) / 60
        return minutes * self.delays.idle_seconds_per_minute

    def touch(self, name: str) -> None:
        """Activity on the runtime now: its idle timeout starts again."""
        rt = self.runtimes.get(name)
        if rt is None:
            raise rpc_error(5, f"NotebookRuntime {name} is not found.")
        timeout = self._idle_timeout(rt)
        now = self.last_activity[name] = time.monotonic()
        if timeout is None:
            return

        def check():
            if (self.last_activity.get(name) != now or name in self.busy
                    or self.runtimes.get(name) is not rt or rt["runtimeState"] != "RUNNING"):
                return
            self.idle_stops.append(name)
            self._stop_now(rt)
        self.clock.after(timeout, check)

    def set_busy(self, name: str, busy: bool) -> None:
        self._runtime(name)
        if busy:
            self.busy.add(name)
        else:
            self.busy.discard(name)
            self.touch(name)

    # -- verbs -------------------------------------------------------------------------
    def get_runtime(self, name: str) -> dict:
        return self._runtime(name)

    def list_runtimes(self, parent: str, query: dict) -> dict:
        terms = _filter((query.get("filter") or [None])[0], RUNTIME_FILTERS)
        items = [r for n, r in sorted(self.runtimes.items()) if n.startswith(parent + "/")
                 and matches_filter(_view(r), terms)]
        return _page(items, "notebookRuntimes", query)

    def _stop_now(self, rt: dict) -> None:
        rt["runtimeState"] = "BEING_STOPPED"
        rt["updateTime"] = now_iso()
        self._become(rt, "STOPPED", self.delays.stop)

    def stop(self, name: str) -> dict:
        rt = self._runtime(name)
        if rt["runtimeState"] != "RUNNING":
            raise rpc_error(9, f"NotebookRuntime {name} is in state "
                            f"{rt['runtimeState']}; only a RUNNING runtime can be stopped.")
        self._stop_now(rt)
        return self._operation(_parent(name), "StopNotebookRuntimeOperationMetadata",
                               response=lambda: ("StopNotebookRuntimeResponse", {}))

    def start(self, name: str, fault: str | None) -> dict:
        rt = self._runtime(name)
        if rt["runtimeState"] != "STOPPED":
            raise rpc_error(9, f"NotebookRuntime {name} is in state "
                            f"{rt['runtimeState']}; only a STOPPED runtime can be started.")
        meta = "StartNotebookRuntimeOperationMetadata"
        if fault:
            return self._capacity(fault, _parent(name), meta, rt)
        rt["runtimeState"] = "BEING_STARTED"
        self._become(rt, "RUNNING", self.delays.start)
        return self._operation(_parent(name), meta,
                               response=lambda: ("StartNotebookRuntimeResponse", {}))

    def delete_runtime(self, name: str) -> dict:
        self._runtime(name)

        def gone():
            self.runtimes.pop(name, None)
            self.busy.discard(name)
            self.last_activity.pop(name, None)
        return self._operation(_parent(name), "DeleteOperationMetadata",
                               after=self.delays.delete, then=gone)


def _parent(name: str) -> str:
    return "/".join(name.split("/")[:4])


def _view(obj: dict) -> dict:
    """The fields List*Request.filter names, as notebook_service.proto documents them."""
    spec = obj.get("machineSpec") or {}
    tpl = (obj.get("notebookRuntimeTemplateRef") or {}).get("notebookRuntimeTemplate")
    view = {k: obj.get(k) for k in ("displayName", "labels", "notebookRuntimeType",
                                    "healthState", "runtimeState", "runtimeUser")}
    view.update(machineType=spec.get("machineType"), acceleratorType=spec.get("acceleratorType"))
    if "/notebookRuntimes/" in obj["name"]:
        view.update(notebookRuntime=obj["name"].rsplit("/", 1)[1],
                    notebookRuntimeTemplate=tpl.rsplit("/", 1)[1])
    else:
        view["notebookRuntimeTemplate"] = obj["name"].rsplit("/", 1)[1]
    return view


def _check_idle(cfg: dict | None) -> None:
    if not cfg or cfg.get("idleShutdownDisabled"):
        return
    if not cfg.get("idleTimeout"):
        raise rpc_error(3, "idle_shutdown_config.idle_timeout is required.")
    seconds = float(cfg["idleTimeout"].rstrip("s"))
    low, high = reference.IDLE_TIMEOUT_RANGE_S
    if not low <= seconds <= high:
        raise rpc_error(3, f"idle_shutdown_config.idle_timeout must be between {low}s and "
                        f"{high}s, got {cfg['idleTimeout']}.")


def _check_labels(labels: dict, where: str) -> None:
    for key, value in labels.items():
        if not reference.LABEL_KEY_RX.fullmatch(key) or not reference.LABEL_RX.fullmatch(value):
            raise rpc_error(3, f"{where}: invalid label {key}={value!r}.")


def capacity_status(fault: str, parent: str, resource: dict) -> dict:
    """The google.rpc.Status an operation ends with when the region has no capacity (or the
    project no quota) for the resource's machine."""
    location = parent.split("/")[3]
    if fault == "stockout":
        return {"code": 8, "message": reference.insufficient_resources(location)}
    accel = (resource.get("machineSpec") or {}).get("acceleratorType") or "CPUS"
    message, metric = reference.quota_exceeded(location, accel)
    return {"code": 8, "message": message, "details": [
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure",
         "violations": [{"subject": f"projects/{parent.split('/')[1]}", "description": message}]},
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "QUOTA_EXCEEDED",
         "domain": "aiplatform.googleapis.com", "metadata": {"quota_metric": metric}}]}
