"""Check requests against Google's discovery documents (shipped in google-api-python-client).

Every request the emulator receives is matched to one discovery method by HTTP method and
path; then its path parameters (each against its `pattern`), query parameters (names,
required ones, requestId as a UUID) and JSON body (recursively: field names, types, int64
values, enum values, string `pattern`s, required fields) are checked against the method's
schema. Output-only fields are ignored, as the APIs ignore them (AIP-203). Each break is a
`Problem` worded as Google's front end words it; `error_payload` shapes them as the API does.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote

# Accepted on every Google API besides the document's own standard parameters.
SYSTEM_PARAMETERS = {"$alt", "$fields", "$prettyPrint", "$callback"}
# The requestId description in compute.v1.json: "must be a valid UUID with the exception that
# zero UUID is not supported"; notebooks.v2.json: "Idempotent request UUID".
UUID_RX = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
ZERO_UUID = "00000000-0000-0000-0000-000000000000"
# Proto3 JSON mapping (https://protobuf.dev/programming-guides/proto3/#json): 64-bit integers
# are decimal strings (numbers accepted too), within the type's range.
INT_RANGES = {"int64": (-2**63, 2**63 - 1), "uint64": (0, 2**64 - 1),
              "int32": (-2**31, 2**31 - 1), "uint32": (0, 2**32 - 1)}
PROTO_TYPES = {"string": "TYPE_STRING", "boolean": "TYPE_BOOL", "number": "TYPE_DOUBLE",
               "int64": "TYPE_INT64", "uint64": "TYPE_UINT64", "int32": "TYPE_INT32",
               "uint32": "TYPE_UINT32"}


@dataclass(frozen=True)
class Problem:
    """One reason Google would refuse the request: its message and its `errors[].reason`."""
    message: str
    reason: str = "invalid"
    status: int = 400

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Method:
    id: str  # e.g. "compute.instances.insert"
    http_method: str
    regex: re.Pattern
    params: dict  # name -> discovery parameter
    request_ref: str | None


@dataclass(frozen=True)
class Match:
    method: Method
    path_params: dict[str, str]


def _documents_dir() -> Path:
    import googleapiclient

    return Path(googleapiclient.__file__).parent / "discovery_cache" / "documents"


def error_payload(problems: list[Problem], compute: bool) -> dict:
    """Google's JSON error for these problems: Compute Engine's `errors[]` (domain global,
    reason), Notebooks' google.rpc.Status with a BadRequest detail."""
    first = problems[0]
    if compute:
        return {"error": {"code": first.status, "message": first.message, "errors": [
            {"message": p.message, "domain": "global", "reason": p.reason} for p in problems]}}
    status = "NOT_FOUND" if first.status == 404 else "INVALID_ARGUMENT"
    return {"error": {"code": first.status, "message": first.message, "status": status,
                      "details": [{"@type": "type.googleapis.com/google.rpc.BadRequest",
                                   "fieldViolations": [{"description": p.message} for p in problems]}]}}


def _output_only(prop: dict) -> bool:
    text = prop.get("description", "")
    return bool(prop.get("readOnly")) or text.startswith(("[Output Only]", "Output only."))


def _required(prop: dict, method_id: str) -> bool:
    # compute.v1.json: annotations.required lists the methods; notebooks.v2.json: "Required."
    return (method_id in prop.get("annotations", {}).get("required", ())
            or prop.get("description", "").startswith("Required."))


class Discovery:
    """One discovery document: its methods as path regexes, and its schemas."""

    def __init__(self, doc: dict):
        self.doc = doc
        self.schemas: dict = doc["schemas"]
        self.standard = set(doc.get("parameters", {}))
        self.root = "resource" if doc.get("name") == "compute" else "instance"
        prefix = "/" + doc.get("servicePath", "")
        self.methods: list[Method] = []
        self._collect(doc, prefix)

    @classmethod
    @lru_cache(maxsize=4)
    def load(cls, name: str) -> "Discovery":
        return cls(json.loads((_documents_dir() / name).read_text()))

    def _collect(self, node: dict, prefix: str) -> None:
        for res in node.get("resources", {}).values():
            for m in res.get("methods", {}).values():
                flat = m.get("flatPath") or m["path"]
                pattern = re.sub(r"\{([^}]+)\}", lambda g: f"(?P<{_group(g.group(1))}>[^/:]+)",
                                 re.escape(prefix + flat).replace(r"\{", "{").replace(r"\}", "}"))
                self.methods.append(Method(
                    id=m["id"], http_method=m["httpMethod"], regex=re.compile(pattern + r"\Z"),
                    params=m.get("parameters", {}), request_ref=(m.get("request") or {}).get("$ref")))
            self._collect(res, prefix)

    def match(self, http_method: str, path: str) -> Match | None:
        for m in self.methods:
            if m.http_method != http_method:
                continue
            found = m.regex.match(path)
            if found:
                return Match(m, {k: unquote(v) for k, v in found.groupdict().items()})
        return None

    # -- checks ------------------------------------------------------------------------
    def check(self, match: Match, query: dict[str, list[str]], body) -> list[Problem]:
        """What Google would refuse in this request; empty when it conforms."""
        m = match.method
        problems = self._check_path(m, match.path_params) + self._check_query(m, query)
        numeric = any("enum-encoding=int" in v for v in query.get("$alt", []))
        if m.request_ref:
            if body is None:
                problems.append(Problem(f"Required field '{self.root}' not specified", "required"))
            else:
                problems += self._check_value({"$ref": m.request_ref}, body, self.root, m.id,
                                              numeric_enums=numeric)
        elif body not in (None, {}):
            problems.append(Problem(f"Invalid JSON payload received. {m.id} takes no request body."))
        return problems

    def _check_path(self, m: Method, params: dict[str, str]) -> list[Problem]:
        out = []
        for name, value in params.items():
            rx = (m.params.get(name) or {}).get("pattern")
            if rx and not re.fullmatch(rx.strip("^$"), value):
                out.append(Problem(f"Invalid value for field '{name}': '{value}'. "
                                   f"Must be a match of regex '{rx}'"))
        return out

    def _check_query(self, m: Method, query: dict[str, list[str]]) -> list[Problem]:
        out: list[Problem] = []
        known = {n for n, p in m.params.items() if p.get("location") == "query"}
        for name, values in query.items():
            if name in SYSTEM_PARAMETERS or name in self.standard:
                continue
            if name not in known:
                out.append(Problem(f"Invalid JSON payload received. Unknown name \"{name}\": Cannot "
                                   f"bind query parameter. Field '{name}' could not be found in "
                                   "request message."))
                continue
            param = m.params[name]
            for v in values:
                if name == "requestId" and "UUID" in param.get("description", ""):
                    if not UUID_RX.fullmatch(v) or v == ZERO_UUID:
                        out.append(Problem(f"Invalid value for field 'requestId': '{v}'. The request "
                                           "ID must be a valid UUID with the exception that zero "
                                           f"UUID is not supported ({ZERO_UUID})."))
                    continue
                out += self._check_value(param, v, name, m.id, numeric_enums=False, from_query=True)
        for name, p in m.params.items():
            if (p.get("location") == "query" and name not in query
                    and (p.get("required") or _required(p, m.id))):
                out.append(Problem(f"Required field '{name}' not specified", "required"))
        return out

    def _check_value(self, schema: dict, value, where: str, method_id: str, *,
                     numeric_enums: bool, from_query: bool = False) -> list[Problem]:
        if "$ref" in schema:
            schema = self.schemas[schema["$ref"]]
        kind = schema.get("type")
        if kind == "any" or kind is None and "properties" not in schema:
            return []
        if "enum" in schema:
            if numeric_enums and isinstance(value, int) and 0 <= value < len(schema["enum"]):
                return []
            return [] if value in schema["enum"] else [_bad(where, "TYPE_ENUM", value)]
        if kind == "object":
            return self._check_object(schema, value, where, method_id, numeric_enums)
        if kind == "array":
            if not isinstance(value, list):
                return [_bad(where, "TYPE_MESSAGE", value)]
            out: list[Problem] = []
            for i, v in enumerate(value):
                out += self._check_value(schema.get("items", {}), v, f"{where}[{i}]", method_id,
                                         numeric_enums=numeric_enums)
            return out
        out = _check_scalar(kind, schema.get("format"), value, where, from_query)
        rx = schema.get("pattern")
        if not out and rx and isinstance(value, str) and value and not re.fullmatch(rx, value):
            out.append(Problem(f"Invalid value for field '{where}': '{value}'. "
                               f"Must be a match of regex '(?:{rx})'"))
        return out

    def _check_object(self, schema: dict, value, where: str, method_id: str,
                      numeric_enums: bool) -> list[Problem]:
        if not isinstance(value, dict):
            return [_bad(where, "TYPE_MESSAGE", value)]
        out: list[Problem] = []
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for k, v in value.items():
            if k in props:
                if not _output_only(props[k]):  # AIP-203: output-only input is ignored
                    out += self._check_value(props[k], v, f"{where}.{k}", method_id,
                                             numeric_enums=numeric_enums)
            elif extra is not None:
                out += self._check_value(extra, v, f"{where}[{k!r}]", method_id,
                                         numeric_enums=numeric_enums)
            else:
                out.append(Problem(f"Invalid JSON payload received. Unknown name \"{k}\" at "
                                   f"'{where}': Cannot find field."))
        for k, p in props.items():
            if _required(p, method_id) and not _output_only(p) and value.get(k) in (None, ""):
                out.append(Problem(f"Required field '{where}.{k}' not specified", "required"))
        return out

    def without_output_only(self, ref: str, value):
        """`value` less the output-only fields of schema `ref`: what the API keeps of a body."""
        schema = self.schemas.get(ref) or {}
        if schema.get("type") == "array" and isinstance(value, list):
            return [self.without_output_only(schema.get("items", {}).get("$ref", ""), v) for v in value]
        if not isinstance(value, dict) or "properties" not in schema:
            return value
        out = {}
        for k, v in value.items():
            prop = schema["properties"].get(k)
            if prop is None:
                out[k] = v
            elif not _output_only(prop):
                items = prop.get("items", {})
                if isinstance(v, list):
                    out[k] = [self.without_output_only(items.get("$ref", ""), x) for x in v]
                else:
                    out[k] = self.without_output_only(prop.get("$ref", ""), v)
        return out


    def enum_names(self, schema: dict, value):
        """`value` with each enum given by number (`$alt=json;enum-encoding=int`) named, as
        the API keeps it: an answer in the default JSON names its enums, however they were
        sent (https://google.aip.dev/126, proto3 JSON mapping)."""
        if "$ref" in schema:
            schema = self.schemas.get(schema["$ref"]) or {}
        if "enum" in schema:
            numeric = isinstance(value, int) and not isinstance(value, bool)
            return schema["enum"][value] if numeric and 0 <= value < len(schema["enum"]) else value
        if isinstance(value, list):
            return [self.enum_names(schema.get("items", {}), v) for v in value]
        if isinstance(value, dict):
            props, extra = schema.get("properties", {}), schema.get("additionalProperties")
            return {k: self.enum_names(props.get(k) or extra or {}, v) for k, v in value.items()}
        return value


def _group(name: str) -> str:
    return re.sub(r"\W", "_", name)


def _bad(where: str, proto_type: str, value) -> Problem:
    """The proto-JSON parser's refusal of a value of the wrong type."""
    return Problem(f"Invalid value at '{where}' ({proto_type}), {json.dumps(value)}")


def _check_scalar(kind: str, fmt: str | None, value, where: str, from_query: bool) -> list[Problem]:
    if kind == "string" and fmt not in INT_RANGES:
        return [] if isinstance(value, str) else [_bad(where, "TYPE_STRING", value)]
    if kind in ("string", "integer"):  # int64/uint64 travel as strings, int32 as numbers
        fmt = fmt or "int32"
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            return [_bad(where, PROTO_TYPES.get(fmt, "TYPE_INT64"), value)]
        low, high = INT_RANGES[fmt]
        ok = re.fullmatch(r"-?\d+", str(value)) and low <= int(value) <= high
        return [] if ok else [_bad(where, PROTO_TYPES.get(fmt, "TYPE_INT64"), value)]
    if kind == "number":
        if from_query:
            return [] if re.fullmatch(r"-?\d+(\.\d*)?([eE]-?\d+)?", str(value)) else [
                _bad(where, "TYPE_DOUBLE", value)]
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return [] if ok else [_bad(where, "TYPE_DOUBLE", value)]
    if kind == "boolean":
        if from_query:
            return [] if value in ("true", "false", "True", "False") else [_bad(where, "TYPE_BOOL", value)]
        return [] if isinstance(value, bool) else [_bad(where, "TYPE_BOOL", value)]
    return []
