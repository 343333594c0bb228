"""Check requests against Google's discovery documents (shipped in google-api-python-client).

Every request the emulator receives is matched to one discovery method by HTTP method and
path; then its query parameter names, required parameters, and JSON body (recursively,
field names, types and enum values) are checked against the method's schema. A request
that fits no method, or breaks its schema, is a violation.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

# Accepted on every Google API besides the document's own standard parameters.
SYSTEM_PARAMETERS = {"$alt", "$fields", "$prettyPrint", "$callback"}


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


class Discovery:
    """One discovery document: its methods as path regexes, and its schemas."""

    def __init__(self, doc: dict):
        self.doc = doc
        self.schemas: dict = doc["schemas"]
        self.standard = set(doc.get("parameters", {}))
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
                return Match(m, {k: v for k, v in found.groupdict().items()})
        return None

    # -- checks ------------------------------------------------------------------------
    def check(self, match: Match, query: dict[str, list[str]], body) -> list[str]:
        """Violations of this request against its method; empty when it conforms."""
        problems: list[str] = []
        m = match.method
        known = {n for n, p in m.params.items() if p.get("location") == "query"}
        for name, values in query.items():
            if name in SYSTEM_PARAMETERS or name in self.standard:
                continue
            if name not in known:
                problems.append(f"{m.id}: unknown query parameter {name!r}")
                continue
            for v in values:
                problems += self._check_value(m.params[name], v, f"{m.id}?{name}", numeric_enums=False,
                                              from_query=True)
        for name, p in m.params.items():
            if p.get("required") and p.get("location") == "query" and name not in query:
                problems.append(f"{m.id}: required query parameter {name!r} missing")
        numeric = any("enum-encoding=int" in v for v in query.get("$alt", []))
        if m.request_ref:
            if body is None:
                problems.append(f"{m.id}: request body missing (expected {m.request_ref})")
            else:
                problems += self._check_value({"$ref": m.request_ref}, body, m.request_ref,
                                              numeric_enums=numeric)
        elif body not in (None, {}):
            problems.append(f"{m.id}: takes no request body, got {str(body)[:80]}")
        return problems

    def _check_value(self, schema: dict, value, where: str, *, numeric_enums: bool,
                     from_query: bool = False) -> list[str]:
        if "$ref" in schema:
            schema = self.schemas[schema["$ref"]]
        kind = schema.get("type")
        if kind == "any" or kind is None and "properties" not in schema:
            return []
        if "enum" in schema:
            if numeric_enums and isinstance(value, int) and 0 <= value < len(schema["enum"]):
                return []
            if value not in schema["enum"]:
                return [f"{where}: {value!r} is not one of {schema['enum'][:12]}"]
            return []
        if kind == "object":
            if not isinstance(value, dict):
                return [f"{where}: expected an object, got {type(value).__name__}"]
            out: list[str] = []
            props = schema.get("properties", {})
            extra = schema.get("additionalProperties")
            for k, v in value.items():
                if k in props:
                    out += self._check_value(props[k], v, f"{where}.{k}", numeric_enums=numeric_enums)
                elif extra is not None:
                    out += self._check_value(extra, v, f"{where}[{k!r}]", numeric_enums=numeric_enums)
                else:
                    out.append(f"{where}: unknown field {k!r}")
            return out
        if kind == "array":
            if not isinstance(value, list):
                return [f"{where}: expected an array, got {type(value).__name__}"]
            out = []
            for i, v in enumerate(value):
                out += self._check_value(schema.get("items", {}), v, f"{where}[{i}]",
                                         numeric_enums=numeric_enums)
            return out
        return _check_scalar(kind, schema.get("format"), value, where, from_query)


def _group(name: str) -> str:
    return re.sub(r"\W", "_", name)


def _check_scalar(kind: str, fmt: str | None, value, where: str, from_query: bool) -> list[str]:
    if kind == "string":
        if fmt in ("int64", "uint64") and isinstance(value, int) and not isinstance(value, bool):
            return []
        return [] if isinstance(value, str) else [f"{where}: expected a string, got {value!r}"]
    if kind == "integer":
        if from_query or isinstance(value, str):
            return [] if re.fullmatch(r"-?\d+", str(value)) else [f"{where}: not an integer: {value!r}"]
        return [] if isinstance(value, int) and not isinstance(value, bool) else [
            f"{where}: expected an integer, got {value!r}"]
    if kind == "number":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return [] if ok or from_query else [f"{where}: expected a number, got {value!r}"]
    if kind == "boolean":
        if from_query:
            return [] if value in ("true", "false", "True", "False") else [f"{where}: not a boolean: {value!r}"]
        return [] if isinstance(value, bool) else [f"{where}: expected a boolean, got {value!r}"]
    return []
