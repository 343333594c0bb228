"""A thin WSGI layer in front of moto's server app: it names each request (service, action,
parameters), counts it, answers with an injected error where a rule says so, and holds back
the answer to a request the service has already carried out where a `Hold` says so (a slow
answer, during which a client may die: the cloud did the work all the same).

Injected errors are shaped as each protocol's real errors are:
- EC2 (query protocol): XML `<Response><Errors><Error><Code/><Message/></Error></Errors>
  <RequestID/></Response>`;
- SageMaker (JSON 1.1): `{"__type": code, "message": ...}` with `x-amzn-ErrorType`;
- EventBridge Scheduler (REST-JSON): `{"message": ...}` with `x-amzn-ErrorType: code`.
"""
from __future__ import annotations

import io
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from . import reference

# Signing name -> botocore's model name, where they differ (the Resource Groups Tagging API
# signs as "tagging": botocore/data/resourcegroupstaggingapi/*/service-2.json, signingName).
MODELS = {"tagging": "resourcegroupstaggingapi"}
_SCOPE_RE = re.compile(r"Credential=[^/]+/\d+/([^/]+)/([^/]+)/aws4_request")

# EventBridge Scheduler is REST: (method, first path segment, has a name) -> action
_SCHEDULER_ROUTES = {
    ("POST", "schedules", True): "CreateSchedule", ("GET", "schedules", True): "GetSchedule",
    ("PUT", "schedules", True): "UpdateSchedule", ("DELETE", "schedules", True): "DeleteSchedule",
    ("GET", "schedules", False): "ListSchedules",
    ("POST", "schedule-groups", True): "CreateScheduleGroup",
    ("GET", "schedule-groups", True): "GetScheduleGroup",
    ("DELETE", "schedule-groups", True): "DeleteScheduleGroup",
    ("GET", "schedule-groups", False): "ListScheduleGroups",
}


@dataclass(frozen=True)
class Call:
    service: str
    action: str
    region: str
    params: dict


@dataclass
class Fault:
    """Answer `action` (of `service`) with this error, `times` times (None: always), when
    `when(params)` holds. `status` is the HTTP status the real service uses for the code."""

    service: str
    action: str
    code: str
    message: str
    status: int = 400
    times: int | None = 1
    when: Callable[[dict], bool] | None = None
    hits: int = field(default=0)

    def applies(self, call: Call) -> bool:
        if (call.service, call.action) != (self.service, self.action):
            return False
        if self.times is not None and self.hits >= self.times:
            return False
        return self.when is None or bool(self.when(call.params))


@dataclass
class Hold:
    """Carry out `action` at once but send its answer only `seconds` later, `times` times."""

    service: str
    action: str
    seconds: float
    times: int | None = 1
    hits: int = field(default=0)

    def applies(self, call: Call) -> bool:
        return ((call.service, call.action) == (self.service, self.action)
                and (self.times is None or self.hits < self.times))


def _flat_query(body: bytes) -> dict:
    return {k: v[0] if len(v) == 1 else v for k, v in parse_qs(body.decode()).items()}


def describe(environ: dict, body: bytes) -> Call | None:
    """Name an AWS request from its headers, path and body; None for moto's own API."""
    path = environ.get("PATH_INFO", "")
    if path.startswith("/moto-api"):
        return None
    m = _SCOPE_RE.search(environ.get("HTTP_AUTHORIZATION", ""))
    region, service = (m.group(1), m.group(2)) if m else ("", "")
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        params = json.loads(body or b"{}")
        return Call(service, target.split(".")[-1], region, params)
    if service == "scheduler":
        parts = [p for p in path.split("/") if p]
        action = _SCHEDULER_ROUTES.get((environ["REQUEST_METHOD"], parts[0] if parts else "",
                                        len(parts) > 1), "Unknown")
        params = json.loads(body) if body else {}
        if len(parts) > 1:
            params["Name"] = parts[1]
        query = parse_qs(environ.get("QUERY_STRING", ""))
        params.update({k: v[0] for k, v in query.items()})
        return Call(service, action, region, params)
    if service == "s3":  # REST: the method and whether the path names an object
        parts = [p for p in path.split("/") if p]
        kind = "Object" if len(parts) > 1 else "Bucket"
        return Call(service, environ["REQUEST_METHOD"].title() + kind, region, {})
    params = _flat_query(body)
    return Call(service, str(params.get("Action", "Unknown")), region, params)


def error_response(call: Call, fault: Fault) -> tuple[str, list, bytes]:
    rid = str(uuid.uuid4())
    status = f"{fault.status} Error"
    if call.service == "ec2":
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>'
                f'{fault.code}</Code><Message>{escape(fault.message)}</Message></Error></Errors>'
                f'<RequestID>{rid}</RequestID></Response>').encode()
        return status, [("Content-Type", "text/xml;charset=UTF-8")], body
    if call.service == "scheduler":
        return status, [("Content-Type", "application/json"), ("x-amzn-ErrorType", fault.code),
                        ("x-amzn-RequestId", rid)], json.dumps({"message": fault.message}).encode()
    return status, [("Content-Type", "application/x-amz-json-1.1"),
                    ("x-amzn-ErrorType", fault.code), ("x-amzn-RequestId", rid)], \
        json.dumps({"__type": fault.code, "message": fault.message}).encode()


class FaultLayer:
    """WSGI middleware: records every call in `calls`, applies the first matching fault."""

    def __init__(self, app):
        self.app = app
        self.calls: list[Call] = []
        self.faults: list[Fault] = []
        self.holds: list[Hold] = []
        self.strict = True  # malformed requests refused per botocore's model (reference.py)
        self.latency = 0.0  # seconds added to every answer, as a network's round trip
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.faults.clear()
            self.holds.clear()

    def hold(self, hold: Hold) -> Hold:
        with self._lock:
            self.holds.append(hold)
        return hold

    def inject(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def count(self, action: str, service: str | None = None) -> int:
        with self._lock:
            return sum(1 for c in self.calls
                       if c.action == action and (service is None or c.service == service))

    def refusal(self, call: Call, environ: dict, body: bytes) -> Fault | None:
        """The service's answer to a malformed request, in strict mode."""
        if not self.strict:
            return None
        try:
            if call.service == "ec2":
                reference.check_query("ec2", call.params)
            elif environ.get("HTTP_X_AMZ_TARGET"):
                reference.check_json(MODELS.get(call.service, call.service), call.action,
                                     call.params)
            elif call.service == "scheduler" and body:  # REST-JSON: the body's members
                reference.check_json(call.service, call.action, json.loads(body))
        except reference.Refusal as r:
            return Fault(call.service, call.action, r.code, r.message, 400)
        return None

    def __call__(self, environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        call = describe(environ, body)
        hold = None
        if call is not None:
            refused = self.refusal(call, environ, body)
            with self._lock:
                self.calls.append(call)
                fault = refused or next((f for f in self.faults if f.applies(call)), None)
                if fault is not None and fault is not refused:
                    fault.hits += 1
                hold = next((h for h in self.holds if h.applies(call)), None) if not fault else None
                if hold is not None:
                    hold.hits += 1
            if fault is not None:
                status, headers, payload = error_response(call, fault)
                headers.append(("Content-Length", str(len(payload))))
                start_response(status, headers)
                return [payload]
        if hold is None and not (call is not None and self.latency > 0):
            return self.app(environ, start_response)
        answer = list(self.app(environ, start_response))  # done; nothing sent yet
        time.sleep((hold.seconds if hold else 0.0) + (self.latency if call else 0.0))
        return answer
