"""The emulator's HTTP face: routes each request through the discovery check to a handler,
applies injected faults, counts requests per method, and serves a small control API under
/_emulator/ for tests that run nbctl in a subprocess.
"""
from __future__ import annotations

import json
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from . import reference, semantics
from .compute import Compute, http_error
from .compute_operations import quota_exceeded
from .discovery import Discovery, Problem, error_payload
from .notebooks import Notebooks, rpc_error
from .state import ApiError, Clock, Delays, Injection

HTTP_FAULTS = {"rate-limit", "user-rate-limit", "quota-now", "500", "503", "forbidden",
               "unauthenticated"}
OP_FAULTS = {"stockout", "stockout-details", "quota", "quota-global"}


def _permission(method_id: str) -> str:
    parts = method_id.split(".")
    service, resource, verb = parts[0], parts[-2], parts[-1]
    verb = {"insert": "create", "aggregatedList": "list", "patch": "update"}.get(verb, verb)
    return f"{service}.{resource}.{verb}"


def fault_error(method_id: str, fault: str, resource: str) -> ApiError:
    """An HTTP error in the shape the real API uses for this service."""
    compute = method_id.startswith("compute.")
    if fault == "forbidden":
        perm = _permission(method_id)
        if compute:
            return http_error(403, "forbidden", f"Required '{perm}' permission for '{resource}'")
        return rpc_error(7, f"Permission '{perm}' denied on resource '//notebooks.googleapis.com/"
                         f"{resource}' (or it may not exist).",
                         [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                           "reason": "IAM_PERMISSION_DENIED", "domain": "notebooks.googleapis.com",
                           "metadata": {"permission": perm, "resource": resource}}])
    if fault == "unauthenticated":
        return ApiError(401, {"error": {"code": 401, "message": "Request had invalid authentication "
                                        "credentials.", "status": "UNAUTHENTICATED"}})
    if fault in ("rate-limit", "user-rate-limit"):
        if compute:  # Compute Engine throttles with 403, not 429: docs "Rate quotas"
            # (cloud.google.com/compute/api-quotas) and the API's standard error reasons
            # (developers.google.com/drive/api/guides/handle-errors: 403 rateLimitExceeded,
            # userRateLimitExceeded, domain usageLimits).
            reason = "rateLimitExceeded" if fault == "rate-limit" else "userRateLimitExceeded"
            text = "Rate Limit Exceeded" if fault == "rate-limit" else "User Rate Limit Exceeded"
            return http_error(403, reason, text, domain="usageLimits")
        # One Platform APIs (notebooks v2) answer 429 RESOURCE_EXHAUSTED (google.rpc.Code 8).
        return rpc_error(8, "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute'")
    if fault == "quota-now":  # the synchronous refusal of compute.instances.insert
        return quota_exceeded(resource)
    status = int(fault)
    if compute:
        return http_error(status, "backendError", "Internal error. Please try again or contact "
                          "Google Support.")
    return ApiError(status, {"error": {"code": status, "message": "The service is currently unavailable.",
                                       "status": "UNAVAILABLE" if status == 503 else "INTERNAL"}})


class Emulator:
    """State of both fake services plus the bookkeeping tests read. Strict (the default): a
    request Google would refuse is answered with Google's 400; else it is only recorded."""

    strict = True
    latency = 0.0  # seconds added to every API answer, as a network's round trip would

    def __init__(self, project: str = "test-project", delays: Delays | None = None,
                 run_vms: bool = False, jupyter: bool = False):
        self.project = project
        self.delays = delays or Delays()
        self.clock = Clock()
        self.compute = Compute(project, self.clock, self.delays)
        self.notebooks = Notebooks(project, self.clock, self.delays)
        self.routes = {**self.compute.handlers(), **self.notebooks.handlers()}
        self.compute_doc = Discovery.load("compute.v1.json")
        self.notebooks_doc = Discovery.load("notebooks.v2.json")
        self.injections: list[Injection] = []
        self.counts: Counter[str] = Counter()
        self.requests: list[dict] = []
        self.violations: list[str] = []
        if run_vms:  # booted VMs run their startup-script as local processes
            from .vms import VmRuntime
            self.compute.vms = VmRuntime(self.clock.lock, self.clock.tick,
                                         lambda z, n: self.compute.instances.get((z, n)),
                                         self.compute.guest_shutdown, project,
                                         jupyter=jupyter)

    def preempt(self, name: str, zone: str, notice: float | None = None) -> dict:
        """Preempt a spot VM with `notice` seconds of notice (default: delays.notice); returns
        its `compute.instances.preempted` operation ({} if it was not running)."""
        with self.clock.lock:
            self.clock.tick()
            return self.compute.preempt(zone, name, self.delays.notice if notice is None else notice)

    def end_notice(self, name: str, zone: str) -> None:
        """Power the VM off now, as at the end of its preemption notice."""
        with self.clock.lock:
            self.compute.end_notice(zone, name)

    def expire_request_ids(self) -> None:
        """Let the time the APIs keep requestIds (delays.request_id_ttl) pass for every id."""
        with self.clock.lock:
            self.compute.request_ids.clear()
            self.notebooks.request_ids.clear()

    def preempt_boots(self, name: str, zone: str, times: int) -> None:
        """Reclaim the VM's next `times` boots before they reach RUNNING, server-side."""
        with self.clock.lock:
            self.compute.preempt_boots[(zone, name)] = int(times)

    def inject(self, method: str, error: str, zone: str | None = None, count: int = 1,
               skip: int = 0) -> None:
        with self.clock.lock:
            self.injections.append(Injection(method=method, error=str(error), zone=zone,
                                             count=count, skip=skip))

    def _take_fault(self, method_id: str, zone: str | None) -> str | None:
        for inj in self.injections:
            if inj.applies(method_id, zone):
                if inj.skip > 0:
                    inj.skip -= 1
                    continue
                inj.count -= 1
                return inj.error
        return None

    def handle(self, verb: str, raw_path: str, body_bytes: bytes) -> tuple[int, dict]:
        parts = urlsplit(raw_path)
        query = parse_qs(parts.query, keep_blank_values=True)
        compute = parts.path.startswith("/compute/")
        doc = self.compute_doc if compute else self.notebooks_doc
        match = doc.match(verb, parts.path)
        try:
            body = json.loads(body_bytes) if body_bytes else None
        except ValueError:
            body = None
            problem = Problem("Invalid JSON payload received. Unexpected token.")
            self.violations.append(f"{verb} {parts.path}: {problem}")
            return 400, error_payload([problem], compute)
        if match is None:  # Google's front end: no such method is a 404
            self.violations.append(f"{verb} {parts.path}: matches no discovery method")
            return 404, error_payload([Problem(f"The requested URL {parts.path} was not found on "
                                               "this server.", "notFound", 404)], compute)
        mid = match.method.id
        # Request validation. A request off the discovery schema is a violation (the client's
        # fault); in strict mode Google's 400 answers it. A well-formed request the cloud
        # refuses for its meaning (semantics.py) gets the cloud's 400 in every mode.
        problems = doc.check(match, query, body)
        refused = [] if problems else semantics.check(mid, match.path_params, body,
                                                      self._image_disk_gb)
        if body is not None and match.method.request_ref:  # output-only input is ignored
            body = doc.without_output_only(match.method.request_ref, body)
            body = doc.enum_names({"$ref": match.method.request_ref}, body)
        with self.clock.lock:
            self.counts[mid] += 1
            self.requests.append({"method": mid, "path": parts.path, "params": match.path_params,
                                  "query": query, "body": body})
            self.violations.extend(f"{mid}: {p}" for p in problems)
            if refused or problems and self.strict:
                return 400, error_payload(refused or problems, compute)
        if mid.endswith("Operations.wait"):
            return self._wait(match.path_params, query)
        handler = self.routes.get(mid)
        if handler is None:
            return 501, {"error": {"code": 501, "message": f"{mid} is not emulated", "status": "UNIMPLEMENTED"}}
        p = match.path_params
        zone = p.get("zone") or p.get("locationsId") or p.get("region")
        with self.clock.lock:
            self.clock.tick()
            fault = self._take_fault(mid, zone)
            try:
                if fault in HTTP_FAULTS:
                    raise fault_error(mid, fault, parts.path.split("/v1/")[-1].split("/v2/")[-1])
                result = handler(p, query, body or {}, fault if fault in OP_FAULTS else None)
            except ApiError as e:
                return e.status, e.payload
        if fault == "lost-response":  # the cloud did it, but the answer never arrived
            return 503, fault_error(mid, "503", parts.path).payload
        return 200, result

    def _image_disk_gb(self, source: str) -> int | None:
        """The size of the image a disk is made from (reference.py: DLVM images)."""
        known = any(source.endswith("/" + i["name"]) or source == i["selfLink"]
                    for i in self.compute.images.values())
        return reference.DLVM_IMAGE_DISK_GB if known else None

    def _wait(self, p: dict, query: dict) -> tuple[int, dict]:
        """zoneOperations.wait: block until DONE or the wait timeout, then answer the operation."""
        deadline = time.monotonic() + self.delays.wait_timeout
        while True:
            with self.clock.lock:
                self.clock.tick()
                try:
                    op = self.compute.op_get(p, query, None, None)
                except ApiError as e:
                    return e.status, e.payload
                if op["status"] == "DONE" or time.monotonic() >= deadline:
                    return 200, op
            time.sleep(0.01)

    # -- control API (for subprocess tests) ----------------------------------------------
    def control(self, verb: str, path: str, body: dict) -> tuple[int, dict]:
        op = path[len("/_emulator/"):]
        if op == "inject" and verb == "POST":
            self.inject(body["method"], str(body["error"]), body.get("zone"),
                        int(body.get("count", 1)), int(body.get("skip", 0)))
            return 200, {}
        if op == "preempt" and verb == "POST":
            try:
                return 200, self.preempt(body["name"], body["zone"], body.get("notice"))
            except ApiError as e:
                return e.status, e.payload
        if op == "preempt-boots" and verb == "POST":
            self.preempt_boots(body["name"], body["zone"], int(body["times"]))
            return 200, {}
        if op == "end-notice" and verb == "POST":
            self.end_notice(body["name"], body["zone"])
            return 200, {}
        if op == "expire-request-ids" and verb == "POST":
            self.expire_request_ids()
            return 200, {}
        if op == "counts":
            return 200, dict(self.counts)
        if op == "reset-counts" and verb == "POST":
            with self.clock.lock:
                self.counts.clear()
                self.requests.clear()
            return 200, {}
        if op == "violations":
            return 200, {"violations": list(self.violations)}
        if op == "add-instances" and verb == "POST":
            with self.clock.lock:
                for spec in body["instances"]:
                    self.add_instance(**spec)
            return 200, {}
        if op == "state":
            with self.clock.lock:
                self.clock.tick()
                return 200, {"instances": [{"zone": z, "name": n, "status": i["status"]}
                                           for (z, n), i in self.compute.instances.items()],
                             "workbench": [{"name": n, "state": i["state"]}
                                           for n, i in self.notebooks.instances.items()],
                             "policies": [f"{r}/{n}" for (r, n) in self.compute.policies]}
        return 404, {"error": {"code": 404, "message": f"no control {verb} {op}"}}

    def add_instance(self, name: str, zone: str, labels: dict | None = None,
                     status: str = "RUNNING", spot: bool = True) -> dict:
        """Put a VM straight into the state (benchmarks: hundreds without hundreds of inserts)."""
        c = self.compute
        link = f"https://www.googleapis.com/compute/v1/projects/{self.project}/zones/{zone}/instances/{name}"
        inst = {"kind": "compute#instance", "id": c.ids.next(), "name": name, "status": status,
                "zone": f"https://www.googleapis.com/compute/v1/projects/{self.project}/zones/{zone}",
                "machineType": f"https://www.googleapis.com/compute/v1/projects/{self.project}/zones/{zone}/machineTypes/n1-standard-4",
                "labels": dict(labels or {}), "selfLink": link, "creationTimestamp": "2025-06-02T10:00:00.000-07:00",
                "guestAccelerators": [{"acceleratorCount": 1, "acceleratorType":
                                       f"projects/{self.project}/zones/{zone}/acceleratorTypes/nvidia-tesla-t4"}],
                "scheduling": {"provisioningModel": "SPOT" if spot else "STANDARD",
                               "onHostMaintenance": "TERMINATE", "automaticRestart": False,
                               "instanceTerminationAction": "STOP" if spot else None},
                "metadata": {"kind": "compute#metadata", "fingerprint": "meta-1", "items": []}}
        if not spot:
            inst["scheduling"].pop("instanceTerminationAction")
        c.instances[(zone, name)] = inst
        return inst


class _Handler(BaseHTTPRequestHandler):
    emulator: Emulator
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # keep test output quiet
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path.startswith("/_emulator/"):
            status, payload = self.emulator.control(self.command, urlsplit(self.path).path,
                                                    json.loads(raw) if raw else {})
        else:
            status, payload = self.emulator.handle(self.command, self.path, raw)
            if self.emulator.latency > 0:  # the network's share of every answer (benchmarks)
                time.sleep(self.emulator.latency)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = do_PATCH = do_PUT = _serve


def serve(emulator: Emulator, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    handler = type("Handler", (_Handler,), {"emulator": emulator})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server
