"""The emulator's HTTP face: matches each request to a NotebookService method by the proto's
google.api.http rules (google/cloud/aiplatform/v1/notebook_service.proto), checks it against
the request message (schema.py), applies injected faults, counts requests per method, and
serves a control API under /_emulator/ for tests that run nbctl in a subprocess.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from tests.emulators.gcp.notebooks import rpc_error
from tests.emulators.gcp.state import ApiError, Clock

from . import reference, schema
from .service import Delays, NotebookService

LOC = r"projects/[^/]+/locations/[^/]+"
TEMPLATE = LOC + r"/notebookRuntimeTemplates/[^/:]+"
RUNTIME = LOC + r"/notebookRuntimes/[^/:]+"
# (HTTP method, path, RPC, the field the body binds to) from notebook_service.proto's
# google.api.http options; the path's one capture is the `name` or `parent` field.
ROUTES = [
    ("POST", rf"/v1/(?P<parent>{LOC})/notebookRuntimeTemplates", "CreateNotebookRuntimeTemplate",
     "notebook_runtime_template"),
    ("GET", rf"/v1/(?P<name>{TEMPLATE})", "GetNotebookRuntimeTemplate", None),
    ("GET", rf"/v1/(?P<parent>{LOC})/notebookRuntimeTemplates", "ListNotebookRuntimeTemplates",
     None),
    ("DELETE", rf"/v1/(?P<name>{TEMPLATE})", "DeleteNotebookRuntimeTemplate", None),
    ("POST", rf"/v1/(?P<parent>{LOC})/notebookRuntimes:assign", "AssignNotebookRuntime", "*"),
    ("GET", rf"/v1/(?P<name>{RUNTIME})", "GetNotebookRuntime", None),
    ("GET", rf"/v1/(?P<parent>{LOC})/notebookRuntimes", "ListNotebookRuntimes", None),
    ("DELETE", rf"/v1/(?P<name>{RUNTIME})", "DeleteNotebookRuntime", None),
    ("POST", rf"/v1/(?P<name>{RUNTIME}):start", "StartNotebookRuntime", "*"),
    ("POST", rf"/v1/(?P<name>{RUNTIME}):stop", "StopNotebookRuntime", "*"),
    ("PATCH", rf"/v1/(?P<name>{TEMPLATE})", "UpdateNotebookRuntimeTemplate", None),
    ("POST", rf"/v1/(?P<name>{RUNTIME}):upgrade", "UpgradeNotebookRuntime", None),
    # google.longrunning.Operations.GetOperation, under a location or a resource of it
    ("GET", rf"/(?:v1|ui)/(?P<name>{LOC}(?:/[^/]+/[^/]+)?/operations/[^/:]+)", "GetOperation",
     None),
]
ROUTES = [(verb, re.compile(path), rpc, body) for verb, path, rpc, body in ROUTES]
NOT_EMULATED = {"UpdateNotebookRuntimeTemplate", "UpgradeNotebookRuntime"}
HTTP_FAULTS = {"unavailable", "forbidden"}
# Capacity: in the operation (stockout, quota) or at once as HTTP 429 (the -now forms).
CAPACITY_FAULTS = {"stockout", "quota", "stockout-now", "quota-now"}
CAPACITY_RPCS = {"AssignNotebookRuntime", "StartNotebookRuntime"}
# What each RPC returns, for writing enums as numbers.
RESOURCE_OF = {"GetNotebookRuntimeTemplate": "NotebookRuntimeTemplate",
               "GetNotebookRuntime": "NotebookRuntime"}


@dataclass
class Injection:
    """Fail the next `count` calls of `method` (an RPC name) in `location` (None: anywhere)."""

    method: str
    error: str  # stockout | quota | stockout-now | quota-now | unavailable | forbidden
    location: str | None = None
    count: int = 1


def fault_error(fault: str, rpc: str, path: str) -> ApiError:
    if fault == "unavailable":
        return rpc_error(14, "The service is currently unavailable.")
    permission = "aiplatform." + re.sub(r"(?<!^)(?=[A-Z])", "_", rpc).lower()
    return rpc_error(7, f"Permission '{permission}' denied on resource "
                     f"'//aiplatform.googleapis.com/{path}' (or it may not exist).",
                     [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                       "reason": "IAM_PERMISSION_DENIED", "domain": "aiplatform.googleapis.com",
                       "metadata": {"permission": permission, "resource": path}}])


class Emulator:
    """State of the fake service plus the bookkeeping tests read. Strict (the default): a
    request Google's front end would refuse is answered with its 400; else only recorded."""

    strict = True

    def __init__(self, project: str = "test-project", delays: Delays | None = None):
        self.project = project
        self.delays = delays or Delays()
        self.clock = Clock()
        self.service = NotebookService(project, self.clock, self.delays)
        self.injections: list[Injection] = []
        self.counts: Counter[str] = Counter()
        self.requests: list[dict] = []
        self.violations: list[str] = []

    def inject(self, method: str, error: str, location: str | None = None,
               count: int = 1) -> None:
        if error not in HTTP_FAULTS | CAPACITY_FAULTS:
            raise ValueError(f"unknown fault {error!r}")
        if error in CAPACITY_FAULTS and method not in CAPACITY_RPCS:
            raise ValueError(f"{error} applies to {sorted(CAPACITY_RPCS)}, not {method}")
        with self.clock.lock:
            self.injections.append(Injection(method, error, location, count))

    def _take_fault(self, rpc: str, location: str) -> str | None:
        for inj in self.injections:
            if inj.count > 0 and inj.method == rpc and inj.location in (None, location):
                inj.count -= 1
                return inj.error
        return None

    def handle(self, verb: str, raw_path: str, raw: bytes) -> tuple[int, dict]:
        parts = urlsplit(raw_path)
        query = parse_qs(parts.query, keep_blank_values=True)
        path = unquote(parts.path)
        for route_verb, rx, rpc, body_field in ROUTES:
            m = rx.fullmatch(path)
            if m and route_verb == verb:
                break
        else:
            return 404, {"error": {"code": 404, "status": "NOT_FOUND", "message":
                                   f"The requested URL {path} was not found on this server."}}
        field, value = next(iter(m.groupdict().items()))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            return 400, rpc_error(3, "Invalid JSON payload received.").payload
        if rpc in NOT_EMULATED:
            return 501, {"error": {"code": 501, "status": "UNIMPLEMENTED",
                                   "message": f"{rpc} is not emulated"}}
        problems, canonical = ([], {}) if rpc == "GetOperation" else schema.check(
            rpc + "Request", body_field, body, query, {field})
        location = value.split("/")[3]
        if location not in reference.LOCATIONS:
            problems.append(f"Location {location} is not supported by Colab Enterprise.")
        with self.clock.lock:
            self.counts[rpc] += 1
            self.requests.append({"method": rpc, "path": path, "query": query, "body": body})
            self.violations.extend(f"{rpc}: {p}" for p in problems)
            if problems and self.strict:
                return 400, _bad_request(problems, body_field)
            self.clock.tick()
            fault = self._take_fault(rpc, location)
            try:
                if fault in HTTP_FAULTS:
                    raise fault_error(fault, rpc, value)
                result = self._dispatch(rpc, value, query, canonical, fault)
            except ApiError as e:
                return e.status, e.payload
            numbers = "enum-encoding=int" in (query.get("$alt") or [""])[0]
            return 200, _wire(rpc, result, numbers)

    def _dispatch(self, rpc: str, value: str, query: dict, body: dict, fault: str | None):
        s = self.service
        if rpc == "CreateNotebookRuntimeTemplate":
            return s.create_template(value, query, body, fault)
        if rpc == "AssignNotebookRuntime":
            return s.assign(value, body, fault)
        if rpc == "StartNotebookRuntime":
            return s.start(value, fault)
        simple = {"GetNotebookRuntimeTemplate": s.get_template,
                  "DeleteNotebookRuntimeTemplate": s.delete_template,
                  "GetNotebookRuntime": s.get_runtime, "StopNotebookRuntime": s.stop,
                  "DeleteNotebookRuntime": s.delete_runtime, "GetOperation": s.get_operation}
        if rpc in simple:
            return simple[rpc](value)
        lists = {"ListNotebookRuntimeTemplates": s.list_templates,
                 "ListNotebookRuntimes": s.list_runtimes}
        return lists[rpc](value, query)

    # -- control API (for subprocess tests) ----------------------------------------------
    def control(self, verb: str, op: str, body: dict) -> tuple[int, dict]:
        s = self.service
        with self.clock.lock:
            self.clock.tick()
            if op == "inject" and verb == "POST":
                self.inject(body["method"], body["error"], body.get("location"),
                            int(body.get("count", 1)))
                return 200, {}
            if op == "busy" and verb == "POST":
                try:
                    s.set_busy(body["runtime"], bool(body.get("busy", True)))
                except ApiError as e:
                    return e.status, e.payload
                return 200, {}
            if op == "activity" and verb == "POST":
                s.touch(body["runtime"])
                return 200, {}
            if op == "counts":
                return 200, dict(self.counts)
            if op == "violations":
                return 200, {"violations": list(self.violations)}
            if op == "state":
                return 200, {"templates": sorted(s.templates), "idleStops": list(s.idle_stops),
                             "runtimes": {n: r["runtimeState"] for n, r in s.runtimes.items()}}
        return 404, {"error": {"code": 404, "message": f"no control {verb} {op}"}}


def _bad_request(problems: list[str], body_field: str | None) -> dict:
    """Google's 400 for a request off the schema: google.rpc.Status with a BadRequest."""
    return {"error": {"code": 400, "message": problems[0], "status": "INVALID_ARGUMENT",
                      "details": [{"@type": "type.googleapis.com/google.rpc.BadRequest",
                                   "fieldViolations": [{"field": body_field if body_field not in
                                                        (None, "*") else "",
                                                        "description": p} for p in problems]}]}}


def _wire(rpc: str, result: dict, numbers: bool) -> dict:
    """The answer as sent: enums as numbers when `$alt=json;enum-encoding=int` asked."""
    if rpc in RESOURCE_OF:
        return schema.render(RESOURCE_OF[rpc], result, numbers)
    if rpc.startswith("List"):
        kind = "NotebookRuntimeTemplate" if "Template" in rpc else "NotebookRuntime"
        key = "notebookRuntimeTemplates" if "Template" in rpc else "notebookRuntimes"
        if key not in result:  # an empty list is an empty message
            return result
        return {**result, key: [schema.render(kind, r, numbers) for r in result[key]]}
    response = result.get("response") or {}
    kind = response.get("@type", "").rsplit(".", 1)[-1]
    if kind in ("NotebookRuntime", "NotebookRuntimeTemplate") and numbers:
        body = {k: v for k, v in response.items() if k != "@type"}
        result = {**result, "response": {"@type": response["@type"],
                                         **schema.render(kind, body, True)}}
    return result


class _Handler(BaseHTTPRequestHandler):
    emulator: Emulator
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # keep test output quiet
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path.startswith("/_emulator/"):
            status, payload = self.emulator.control(
                self.command, urlsplit(self.path).path[len("/_emulator/"):],
                json.loads(raw) if raw else {})
        else:
            status, payload = self.emulator.handle(self.command, self.path, raw)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = do_PATCH = _serve


def serve(emulator: Emulator, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    handler = type("Handler", (_Handler,), {"emulator": emulator})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server
