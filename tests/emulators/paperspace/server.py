"""A stateful fake of the Paperspace API v1 endpoints nbctl uses, on loopback.

Machines move through the documented states over time (provisioning -> ready; stopping ->
off; starting -> ready), deletes take a moment, list endpoints page with `hasMore`/`nextPage`.
Each boot runs the machine's startup script (recorded in `script_runs`; with
`run_machines=True` it runs for real, see guests.py), an idle machine with
auto-shutdown is stopped after its timeout (hours, scaled by `hour_seconds`), and a machine
whose provisioning fails (`fail_provisioning`) shows it in its create event.
Every request is recorded; bodies and queries are checked against schema.ENDPOINTS and a
misfit is answered 400 (shape of the documented error object) and kept in `violations`. The
Bearer key must be the configured one, else 401. Failures can be injected per call, from
Python (`inject`) or over HTTP (POST /_emulator/inject).
"""
from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from .reference import REGION_NAMES, UNKNOWN_TEXT
from .resources import ApiError, Delays, Resources
from .schema import ENDPOINTS, check_body, check_query

__all__ = ["PaperspaceEmulator", "ApiError", "Delays"]

_ROUTES = [(re.compile(p), r) for p, r in (
    (r"^/machines$", "/machines"),
    (r"^/machines/(?P<id>[^/]+)$", "/machines/{id}"),
    (r"^/machines/(?P<id>[^/]+)/(?P<verb>start|stop|restart)$", None),
    (r"^/machine-availability$", "/machine-availability"),
    (r"^/machine-events$", "/machine-events"),
    (r"^/machine-events/(?P<id>[^/]+)$", "/machine-events/{id}"),
    (r"^/os-templates$", "/os-templates"),
    (r"^/startup-scripts$", "/startup-scripts"),
    (r"^/startup-scripts/(?P<id>[^/]+)$", "/startup-scripts/{id}"),
)]


class PaperspaceEmulator(Resources):
    """The fake API on loopback: `start()`, point the client at `url`, `stop()`."""

    def __init__(self, *, key: str = "ps-test-key", delays: Delays | None = None,
                 page_size: int = 20, hour_seconds: float = 3600.0, host: str = "127.0.0.1",
                 port: int = 0, run_machines: bool = False, base_dir: str | None = None,
                 latency: float = 0.0):
        self.key = key
        self.latency = latency  # seconds added to every API answer, as a network's round trip
        self.delays = delays or Delays()
        self.page_size = page_size
        self.hour_seconds = hour_seconds  # what one hour of autoShutdownTimeout lasts here
        self.machines: dict[str, dict] = {}
        self.scripts: dict[str, dict] = {}
        self.events: dict[str, dict] = {}
        self.script_runs: list[dict] = []
        self.unavailable: set[tuple[str, str]] = set()  # (machineType, region)
        self.out_of_capacity: set[tuple[str, str]] = set()
        self.failing: dict[tuple[str, str], str] = {}
        self.requests: list[dict] = []
        self.violations: list[dict] = []
        self._injected: list[dict] = []
        self._lock = threading.RLock()
        self._server = ThreadingHTTPServer((host, port), _handler(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None
        self._run_machines, self._base_dir = run_machines, base_dir
        self.guests = None  # a guests.MachineRuntime while started with run_machines

    # -- life ---------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def env(self) -> dict[str, str]:
        return {"NBCTL_PAPERSPACE_API_URL": self.url, "PAPERSPACE_API_KEY": self.key}

    def start(self) -> "PaperspaceEmulator":
        if self._run_machines:  # booted machines run their startup script as local processes
            from .guests import MachineRuntime
            host, port = self._server.server_address[:2]
            self.guests = MachineRuntime(self._lock, self._tick, f"http://{host}:{port}/_emulator",
                                         self._base_dir)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self.guests is not None:
            self.guests.close()

    def _tick(self) -> None:
        with self._lock:
            for m in list(self.machines.values()):
                self._advance(m)

    # -- test controls --------------------------------------------------------------------------
    def inject(self, method: str, route: str, status: int, message: str, *,
               code: str = "BAD_REQUEST", times: int = 1) -> None:
        """Answer the next `times` calls of method+route (e.g. "/machines/{id}/start")."""
        with self._lock:
            self._injected.append({"method": method.upper(), "route": route, "status": status,
                                   "message": message, "code": code, "times": times})

    # Controls take a region as the API does ("East Coast (NY2)") or by its code ("ny2").
    def set_available(self, machine_type: str, region: str, available: bool) -> None:
        key = (machine_type, REGION_NAMES.get(region, region))
        with self._lock:
            (self.unavailable.discard if available else self.unavailable.add)(key)

    def run_out_of_capacity(self, machine_type: str, region: str) -> None:
        """Creating this type in this region is refused with Paperspace's stockout answer,
        though machine-availability still says yes (the docs warn that availability is only
        a point-in-time answer)."""
        with self._lock:
            self.out_of_capacity.add((machine_type, REGION_NAMES.get(region, region)))

    def fail_provisioning(self, machine_type: str, region: str,
                          error: str = f"provisioning failed {UNKNOWN_TEXT}") -> None:
        """Creates of this type in this region are accepted, then fail: the machine stays
        "provisioning" and its create event ends in state "error" with this error."""
        with self._lock:
            self.failing[(machine_type, REGION_NAMES.get(region, region))] = error

    def set_busy(self, machine_id: str, busy: bool) -> None:
        """Mark a machine in use (auto-shutdown waits) or idle (idleness counts from now)."""
        with self._lock:
            m = self.machines[machine_id]
            self._advance(m)
            m["_busy"] = busy
            m["_idle_since"] = time.monotonic()

    def runs_of(self, machine_id: str) -> list[dict]:
        """The startup-script runs of one machine, in boot order."""
        with self._lock:
            for m in list(self.machines.values()):
                self._advance(m)
            return [dict(r) for r in self.script_runs if r["machineId"] == machine_id]

    def machine(self, machine_id: str):
        """The machine's guests.Machine (root, proc, boots, ran) once it has booted; needs
        run_machines=True."""
        if self.guests is None:
            raise RuntimeError("start the emulator with run_machines=True")
        with self._lock:
            return self.guests.machines.get(machine_id)

    def count(self, method: str, route: str) -> int:
        with self._lock:
            return sum(1 for r in self.requests if r["method"] == method and r["route"] == route)

    def bodies(self, method: str, route: str) -> list:
        with self._lock:
            return [r["body"] for r in self.requests if r["method"] == method and r["route"] == route]

    def live_machines(self) -> list[dict]:
        with self._lock:
            return [self._view(m) for m in list(self.machines.values()) if self._advance(m)]

    # -- request handling -------------------------------------------------------------------------
    def handle(self, method: str, raw_path: str, headers: dict, raw_body: bytes) -> tuple[int, object]:
        parts = urlsplit(raw_path)
        query = dict(parse_qsl(parts.query))
        if parts.path.startswith("/_emulator/"):
            return self._control(method, parts.path, raw_body)
        if not parts.path.startswith("/v1/"):
            return 404, {"message": f"not found {UNKNOWN_TEXT}", "code": "NOT_FOUND"}
        path = parts.path[len("/v1"):]
        route, params = self._route(method, path)
        body = None
        if raw_body:
            try:
                body = json.loads(raw_body)
            except ValueError:
                body = raw_body.decode(errors="replace")
        record = {"method": method, "path": path, "route": route, "query": query, "body": body,
                  "content_type": headers.get("content-type")}
        with self._lock:
            self.requests.append(record)
            try:
                result = self._dispatch(method, route, params, query, body, headers)
                record["status"] = 200
                return 200, result
            except ApiError as e:
                record["status"] = e.status
                return e.status, e.body()

    def _route(self, method: str, path: str) -> tuple[str, dict]:
        for pattern, route in _ROUTES:
            m = pattern.match(path)
            if m:
                groups = m.groupdict()
                if route is None:
                    route = f"/machines/{{id}}/{groups.pop('verb')}"
                return route, groups
        return path, {}

    def _dispatch(self, method, route, params, query, body, headers):
        endpoint = ENDPOINTS.get((method, route))
        if endpoint is None:
            raise ApiError(404, "NOT_FOUND", f"no route {route} {UNKNOWN_TEXT}")
        public = (method, route) == ("GET", "/os-templates")  # documented without auth
        if not public and headers.get("authorization") != f"Bearer {self.key}":
            raise ApiError(401, "UNAUTHORIZED", f"invalid API key {UNKNOWN_TEXT}")
        problems = check_body(endpoint, body) + check_query(endpoint, query)
        if problems:
            self.violations.append({"method": method, "route": route, "problems": problems,
                                    "body": body, "query": query})
            raise ApiError(400, "BAD_REQUEST", f"input validation failed {UNKNOWN_TEXT}",
                           {"issues": [{"message": p} for p in problems]})
        for inj in self._injected:
            if inj["times"] > 0 and inj["method"] == method and inj["route"] == route:
                inj["times"] -= 1
                raise ApiError(inj["status"], inj["code"], inj["message"])
        handler = getattr(self, "_" + (method + route).lower().replace("/", "_")
                          .replace("{id}", "id").replace("-", "_"))
        return handler(params=params, query=query, body=body)

    def _control(self, method: str, path: str, raw_body: bytes) -> tuple[int, object]:
        body = json.loads(raw_body or b"{}")
        with self._lock:
            if method == "POST" and path == "/_emulator/inject":
                self.inject(body["method"], body["route"], int(body["status"]), body["message"],
                            code=body.get("code", "BAD_REQUEST"), times=int(body.get("times", 1)))
                return 200, {"ok": True}
            if method == "POST" and path == "/_emulator/availability":
                self.set_available(body["machineType"], body["region"], bool(body["available"]))
                return 200, {"ok": True}
            if method == "POST" and path == "/_emulator/fail-provisioning":
                self.fail_provisioning(body["machineType"], body["region"])
                return 200, {"ok": True}
            if method == "GET" and path == "/_emulator/requests":
                return 200, list(self.requests)
            if method == "GET" and path == "/_emulator/violations":
                return 200, list(self.violations)
            if method == "GET" and path == "/_emulator/machines":
                return 200, self.live_machines()
            if method == "POST" and path.startswith("/_emulator/guest-poweroff/"):
                m = self.machines.get(path.rsplit("/", 1)[1])
                if m is not None and self._advance(m):
                    self._guest_power_off(m, time.monotonic())
                return 200, {"ok": True}
        return 404, {"message": "unknown emulator control", "code": "NOT_FOUND"}


def _handler(emu: PaperspaceEmulator):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, payload = emu.handle(self.command, self.path, headers, raw)
            if emu.latency > 0 and not self.path.startswith("/_emulator/"):
                time.sleep(emu.latency)  # the network's share of every answer (benchmarks)
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("content-type", "application/json; charset=utf-8")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # a guest that asked to power off was shut down before the answer

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, *args) -> None:  # keep test output quiet
            pass

    return Handler
