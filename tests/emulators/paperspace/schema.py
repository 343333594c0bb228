"""The request shapes the fake accepts, as data, from the Paperspace API v1 reference
(https://docs.digitalocean.com/reference/paperspace/api-reference/, OpenAPI document
https://api.paperspace.com/v1/openapi.json; see reference.py for the copy followed). Each
entry: allowed body fields with type, enum and required flag, or body None for endpoints that
take no body; allowed query parameters. Strict: an unknown field or query parameter is a misfit.
"""
from __future__ import annotations

from .reference import DISK_SIZES

S = {"type": "string"}
S1 = {"type": "string", "minLength": 1}
N = {"type": "number"}
B = {"type": "boolean"}
LIST_QUERY = {"after": S, "limit": {"type": "integer", "minimum": 1, "maximum": 120},
              "order": {"type": "string", "enum": ["asc", "desc"]}}

# (method, route) -> {"body": {field: spec} | None, "required": [...], "query": {...}}
ENDPOINTS: dict[tuple[str, str], dict] = {
    ("POST", "/machines"): {  # operationId machines-create
        "body": {
            "name": S1, "machineType": S, "templateId": S, "networkId": S,
            "diskSize": {"type": "number", "enum": list(DISK_SIZES)},
            "region": S,
            "publicIpType": {"type": "string", "enum": ["static", "dynamic", "none"]},
            "autoSnapshotEnabled": B,
            "autoSnapshotFrequency": {"type": "string",
                                      "enum": ["hourly", "daily", "weekly", "monthly"]},
            "autoSnapshotSaveCount": N, "autoShutdownEnabled": B, "autoShutdownTimeout": N,
            "autoShutdownForce": B, "takeInitialSnapshot": B, "restorePointEnabled": B,
            "restorePointFrequency": {"type": "string", "enum": ["shutdown"]},
            "startupScriptId": S, "emailPassword": B, "startOnCreate": B, "enableNvlink": B,
            "accessorIds": {"type": "array", "items": S},
        },
        "required": ["name", "machineType", "templateId", "diskSize", "region"],
    },
    ("GET", "/machines"): {  # machines-list
        "body": None,
        "query": {**LIST_QUERY, "orderBy": {"type": "string",
                                            "enum": ["dtCreated", "name", "state"]},
                  "name": S, "region": S, "agentType": S, "machineType": S},
    },
    ("GET", "/machines/{id}"): {"body": None},
    ("PUT", "/machines/{id}"): {  # machines-update
        "body": {
            "name": S, "machineType": S, "diskSize": {"type": "number", "enum": list(DISK_SIZES)},
            "networkId": S,
            "publicIpType": {"type": "string", "enum": ["static", "dynamic", "none"]},
            "autoSnapshotEnabled": B,
            "autoSnapshotFrequency": {"type": "string",
                                      "enum": ["hourly", "daily", "weekly", "monthly"]},
            "autoSnapshotSaveCount": N, "autoShutdownEnabled": B, "autoShutdownTimeout": N,
            "autoShutdownForce": B, "restorePointEnabled": B,
            "restorePointFrequency": {"type": "string", "enum": ["shutdown"]},
            "restorePointSnapshotId": S,
        },
        "required": [],
    },
    ("DELETE", "/machines/{id}"): {"body": None},
    ("PATCH", "/machines/{id}/start"): {"body": None},
    ("PATCH", "/machines/{id}/stop"): {"body": None},
    ("PATCH", "/machines/{id}/restart"): {"body": None},
    ("GET", "/machine-availability"): {  # machineAvailability-list
        "body": None, "query": {"machineType": S, "region": S},
        "required_query": ["machineType", "region"],
    },
    ("GET", "/machine-events"): {  # machineEvents-list
        "body": None, "query": {**LIST_QUERY, "orderBy": {"type": "string", "enum": ["dtCreated"]},
                                "machineId": S},
    },
    ("GET", "/machine-events/{id}"): {"body": None},  # machineEvents-get
    ("GET", "/os-templates"): {  # osTemplates-list
        "body": None, "query": {**LIST_QUERY, "orderBy": {"type": "string", "enum": ["name"]},
                                "name": S},
    },
    ("GET", "/startup-scripts"): {  # startupScripts-list
        "body": None, "query": {**LIST_QUERY, "orderBy": {"type": "string",
                                                          "enum": ["dtCreated", "name"]},
                                "name": S},
    },
    ("POST", "/startup-scripts"): {  # startupScripts-create
        "body": {"name": S, "script": S, "isRunOnce": B}, "required": ["name", "script"],
    },
    ("GET", "/startup-scripts/{id}"): {"body": None},
    ("PUT", "/startup-scripts/{id}"): {  # startupScripts-update
        "body": {"name": S, "script": S, "isRunOnce": B, "isEnabled": B}, "required": [],
    },
    ("DELETE", "/startup-scripts/{id}"): {"body": None},
}

_PY_TYPES = {"string": (str,), "number": (int, float), "integer": (int,), "boolean": (bool,),
             "array": (list,)}


def check_value(field: str, spec: dict, value) -> str | None:
    """Why the value does not fit its field spec, or None."""
    kind = spec["type"]
    ok_types = _PY_TYPES[kind]
    if isinstance(value, bool) and kind in ("number", "integer"):
        return f"{field}: expected {kind}, got boolean"
    if not isinstance(value, ok_types):
        return f"{field}: expected {kind}, got {type(value).__name__}"
    if "enum" in spec and value not in spec["enum"]:
        return f"{field}: {value!r} is not one of {spec['enum']}"
    if spec.get("minLength") and len(value) < spec["minLength"]:
        return f"{field}: must not be empty"
    if kind == "array" and "items" in spec:
        for i, item in enumerate(value):
            why = check_value(f"{field}[{i}]", spec["items"], item)
            if why:
                return why
    return None


def check_body(endpoint: dict, body) -> list[str]:
    """Problems of a JSON body against the endpoint's schema (unknown, missing, wrong type)."""
    fields = endpoint.get("body")
    if fields is None:
        return [] if body is None else ["this endpoint takes no request body"]
    if not isinstance(body, dict):
        return ["the request body must be a JSON object"]
    problems = [f"{k}: unknown field" for k in body if k not in fields]
    problems += [f"{k}: required" for k in endpoint.get("required", []) if k not in body]
    for k, v in body.items():
        if k in fields:
            why = check_value(k, fields[k], v)
            if why:
                problems.append(why)
    return problems


def check_query(endpoint: dict, query: dict[str, str]) -> list[str]:
    allowed = endpoint.get("query", {})
    problems = [f"query {k}: unknown parameter" for k in query if k not in allowed]
    problems += [f"query {k}: required" for k in endpoint.get("required_query", [])
                 if k not in query]
    for k, v in query.items():
        spec = allowed.get(k)
        if spec and spec["type"] == "integer":
            if not v.isdigit() or not spec["minimum"] <= int(v) <= spec["maximum"]:
                problems.append(f"query {k}: {v!r} is not an integer in "
                                f"[{spec['minimum']}, {spec['maximum']}]")
        elif spec and "enum" in spec and v not in spec["enum"]:
            problems.append(f"query {k}: {v!r} is not one of {spec['enum']}")
    return problems
