"""Requests checked against the API's own schema: the proto messages google-cloud-aiplatform
ships (google/cloud/aiplatform/v1/*.proto), read the way Google's HTTP/JSON transcoding reads a
request (cloud.google.com/endpoints/docs/grpc/transcoding) under the proto3 JSON mapping
(protobuf.dev/programming-guides/proto3/#json): field names in lowerCamelCase or as in the
proto, enums by name or number (the clients send `$alt=json;enum-encoding=int`), 64-bit
integers as strings, Durations as "3600s", and any unknown name refused with Google's own
words. `check` also returns the request in one canonical form (lowerCamelCase names, enums by
name); `render` writes a resource back with enums as numbers when the request asked for them.
"""
from __future__ import annotations

import inspect
import json
import re

from google.cloud.aiplatform_v1.types import notebook_runtime, notebook_service
from google.protobuf.descriptor import Descriptor, FieldDescriptor

SYSTEM_PARAMETERS = {"$alt", "alt", "$fields", "fields", "$prettyPrint", "prettyPrint",
                     "$callback", "callback", "key", "access_token", "quotaUser"}
DURATION_RX = re.compile(r"-?\d{1,12}(\.\d{1,9})?s")
TIMESTAMP_RX = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)")
INT_RANGES = {FieldDescriptor.TYPE_INT32: (-2**31, 2**31 - 1),
              FieldDescriptor.TYPE_SINT32: (-2**31, 2**31 - 1),
              FieldDescriptor.TYPE_INT64: (-2**63, 2**63 - 1),
              FieldDescriptor.TYPE_SINT64: (-2**63, 2**63 - 1),
              FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
              FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1)}
TYPE_NAMES = {getattr(FieldDescriptor, n): n for n in dir(FieldDescriptor) if n.startswith("TYPE_")}
ANY_JSON = {"google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue",
            "google.protobuf.Any"}


def descriptor(name: str) -> Descriptor:
    """The request message `name` (e.g. "AssignNotebookRuntimeRequest") of NotebookService."""
    cls = getattr(notebook_service, name, None) or getattr(notebook_runtime, name)
    return cls.pb().DESCRIPTOR


def _output_only(cls) -> frozenset[str]:
    """The fields whose proto comment opens with "Output only." (the shipped descriptors carry
    no field_behavior options; the comments, copied into the docstrings, do)."""
    doc = inspect.getdoc(cls) or ""
    return frozenset(re.findall(r"^    (\w+) \([^)]*\):\n\s+Output only\.", doc, re.M))


OUTPUT_ONLY = {cls.pb().DESCRIPTOR.full_name: _output_only(cls)
               for cls in (notebook_runtime.NotebookRuntimeTemplate,
                           notebook_runtime.NotebookRuntime)}


def _type_name(field: FieldDescriptor) -> str:
    if field.enum_type is not None:
        return f"type.googleapis.com/{field.enum_type.full_name}"
    if field.message_type is not None:
        return f"type.googleapis.com/{field.message_type.full_name}"
    return TYPE_NAMES[field.type]


def _field(desc: Descriptor, key: str) -> FieldDescriptor | None:
    return desc.fields_by_name.get(key) or next(
        (f for f in desc.fields if f.json_name == key), None)


class Checker:
    """Walks one request body; collects problems worded as Google's front end words them."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def bad(self, field: FieldDescriptor, path: str, value) -> None:
        self.problems.append(f"Invalid value at '{path}' ({_type_name(field)}), "
                             f"{json.dumps(value)}")

    def message(self, desc: Descriptor, value, path: str) -> dict:
        if not isinstance(value, dict):
            self.problems.append(f"Invalid JSON payload received. Expected an object at "
                                 f"'{path}'." if path else
                                 "Invalid JSON payload received. Expected an object.")
            return {}
        out = {}
        skip = OUTPUT_ONLY.get(desc.full_name, frozenset())
        for key, item in value.items():
            field = _field(desc, key)
            if field is None:
                where = f" at '{path}'" if path else ""
                self.problems.append(f'Invalid JSON payload received. Unknown name "{key}"'
                                     f"{where}: Cannot find field.")
                continue
            if item is None or field.name in skip:  # AIP-203: output-only input is ignored
                continue
            sub = f"{path}.{field.name}" if path else field.name
            out[field.json_name] = self.field(field, item, sub)
        return out

    def field(self, field: FieldDescriptor, value, path: str):
        entry = field.message_type
        if entry is not None and entry.GetOptions().map_entry:
            if not isinstance(value, dict):
                self.bad(field, path, value)
                return {}
            vfield = entry.fields_by_name["value"]
            return {str(k): self.single(vfield, v, f"{path}[{k}]") for k, v in value.items()}
        if field.is_repeated:
            if not isinstance(value, list):
                self.bad(field, path, value)
                return []
            return [self.single(field, v, f"{path}[{i}]") for i, v in enumerate(value)]
        return self.single(field, value, path)

    def single(self, field: FieldDescriptor, value, path: str):
        if field.message_type is not None:
            name = field.message_type.full_name
            if name in ANY_JSON:
                return value
            if name == "google.protobuf.Duration":
                ok = isinstance(value, str) and DURATION_RX.fullmatch(value)
            elif name == "google.protobuf.Timestamp":
                ok = isinstance(value, str) and TIMESTAMP_RX.fullmatch(value)
            elif name == "google.protobuf.FieldMask":
                ok = isinstance(value, str)
            else:
                return self.message(field.message_type, value, path)
            if not ok:
                self.bad(field, path, value)
            return value
        if field.enum_type is not None:
            by_number = field.enum_type.values_by_number
            if isinstance(value, bool) or not isinstance(value, (int, str)):
                self.bad(field, path, value)
                return None
            if isinstance(value, int):
                if value not in by_number:
                    self.bad(field, path, value)
                    return None
                return by_number[value].name
            if value not in field.enum_type.values_by_name:
                self.bad(field, path, value)
                return None
            return value
        if field.type in INT_RANGES:
            lo, hi = INT_RANGES[field.type]
            try:
                number = int(value) if not isinstance(value, (bool, float)) else None
            except (TypeError, ValueError):
                number = None
            if number is None or not lo <= number <= hi:
                self.bad(field, path, value)
                return 0
            return number
        if field.type == FieldDescriptor.TYPE_BOOL:
            ok = isinstance(value, bool)
        elif field.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
            ok = (isinstance(value, (int, float)) and not isinstance(value, bool)) or value in (
                "NaN", "Infinity", "-Infinity")
        else:  # strings and bytes (base64 text)
            ok = isinstance(value, str)
        if not ok:
            self.bad(field, path, value)
        return value


def check(request: str, body_field: str | None, body, query: dict[str, list[str]],
          bound: set[str]) -> tuple[list[str], dict]:
    """Problems with the request's JSON body and query parameters, and the body in canonical
    form. `body_field` is the request field the body binds to ("*": the whole request, None:
    no body); `bound` are the fields taken from the path."""
    desc = descriptor(request)
    checker = Checker()
    canonical: dict = {}
    if body_field == "*":
        canonical = checker.message(desc, body if body is not None else {}, "")
    elif body_field is not None:
        field = desc.fields_by_name[body_field]
        canonical = checker.message(field.message_type, body if body is not None else {},
                                    body_field)
    taken = set(bound) | ({body_field} if body_field else set())
    everything_in_body = body_field == "*"
    for name, values in query.items():
        field = _field(desc, name.split(".")[0])
        if name in SYSTEM_PARAMETERS:
            continue
        if field is None or field.name in taken or everything_in_body:
            checker.problems.append(
                f'Invalid JSON payload received. Unknown name "{name}": Cannot bind query '
                f"parameter. Field '{name}' could not be found in request message.")
            continue
        for value in values:
            checker.single(field, value, field.name)
    return checker.problems, canonical


def render(resource: str, obj: dict, enums_as_numbers: bool) -> dict:
    """`obj` (canonical JSON of `resource`, e.g. "NotebookRuntime") as the wire carries it."""
    if not enums_as_numbers:
        return obj
    return _numbers(descriptor(resource), obj)


def _numbers(desc: Descriptor, obj: dict) -> dict:
    out = {}
    for key, value in obj.items():
        field = _field(desc, key)
        if field is None:
            out[key] = value
        elif field.enum_type is not None:
            out[key] = field.enum_type.values_by_name[value].number
        elif (field.message_type is not None and not field.message_type.GetOptions().map_entry
              and not field.message_type.full_name.startswith("google.protobuf.")):
            out[key] = ([_numbers(field.message_type, v) for v in value] if field.is_repeated
                        else _numbers(field.message_type, value))
        else:
            out[key] = value
    return out
