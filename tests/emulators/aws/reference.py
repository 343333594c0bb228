"""botocore's own service models (botocore/data/<service>/<version>/service-2.json), read
offline: the reference for instance types and for strict checking of requests.

Strict mode answers a malformed request as the service does, before moto sees it:
- JSON services (SageMaker's JSON 1.1 body, EventBridge Scheduler's REST-JSON body): a value of the wrong JSON type is a SerializationException;
  enum, length, range and pattern violations are one ValidationException listing each as
  "Value '...' at 'member.path' failed to satisfy constraint: Member must ..." (the shape of
  SageMaker's real messages, e.g. "1 validation error detected: Value 'x' at 'instanceType'
  failed to satisfy constraint: Member must satisfy enum value set: [...]");
- EC2 (query protocol, botocore's ec2 serializer: locationName capitalised, lists flattened
  as Name.N): a parameter the operation does not have is UnknownParameter ("The parameter X
  is not recognized"); a value outside an enum or not of the shape's type is
  InvalidParameterValue.
Unknown members of a JSON body are not refused (not emulated).
"""
from __future__ import annotations

import re
from functools import lru_cache


class Refusal(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


@lru_cache(maxsize=None)
def model(service: str):
    import botocore.session

    return botocore.session.get_session().get_service_model(service)


def enum(service: str, shape: str) -> list[str]:
    return list(model(service).shape_for(shape).enum)


def notebook_types() -> list[str]:
    """SageMaker's notebook instance types: CreateNotebookInstance's InstanceType enum."""
    return enum("sagemaker", "InstanceType")


def enum_refusal(value: str, at: str, allowed: list[str]) -> str:
    return (f"Value '{value}' at '{at}' failed to satisfy constraint: Member must satisfy enum "
            f"value set: [{', '.join(allowed)}]")


def validation_message(problems: list[str]) -> str:
    n = len(problems)
    return (f"{n} validation error{'s' if n > 1 else ''} detected: " + "; ".join(problems))


# -- JSON 1.1 ---------------------------------------------------------------------------------
_JSON_TYPES = {"string": str, "boolean": bool, "structure": dict, "list": list, "map": dict,
               "timestamp": (int, float, str), "blob": str}


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def _check_json(shape, value, at: str, problems: list[str]) -> None:
    t = shape.type_name
    if t in ("integer", "long", "float", "double"):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    else:
        ok = isinstance(value, _JSON_TYPES.get(t, object))
    if not ok:
        raise Refusal("SerializationException",
                      f"Expected {t} for '{at}', got {type(value).__name__}")
    meta = shape.metadata
    if t == "structure":
        for key, member in shape.members.items():
            if key in value:
                _check_json(member, value[key], f"{at}.{_camel(key)}" if at else _camel(key),
                            problems)
        return
    if t == "list":
        for i, item in enumerate(value, 1):
            _check_json(shape.member, item, f"{at}.{i}.member", problems)
    if t == "string" and shape.enum and value not in shape.enum:
        problems.append(enum_refusal(value, at, list(shape.enum)))
    if t in ("string", "list") and "min" in meta and len(value) < meta["min"]:
        problems.append(f"Value '{value}' at '{at}' failed to satisfy constraint: Member must "
                        f"have length greater than or equal to {meta['min']}")
    if t in ("string", "list") and "max" in meta and len(value) > meta["max"]:
        problems.append(f"Value '{value}' at '{at}' failed to satisfy constraint: Member must "
                        f"have length less than or equal to {meta['max']}")
    if t in ("integer", "long") and "min" in meta and value < meta["min"]:
        problems.append(f"Value '{value}' at '{at}' failed to satisfy constraint: Member must "
                        f"have value greater than or equal to {meta['min']}")
    if t in ("integer", "long") and "max" in meta and value > meta["max"]:
        problems.append(f"Value '{value}' at '{at}' failed to satisfy constraint: Member must "
                        f"have value less than or equal to {meta['max']}")
    if t == "string" and meta.get("pattern") and not _matches(meta["pattern"], value):
        problems.append(f"Value '{value}' at '{at}' failed to satisfy constraint: Member must "
                        f"satisfy regular expression pattern: {meta['pattern']}")


def _matches(pattern: str, value: str) -> bool:
    try:  # AWS matches the whole value (Java's Matcher.matches)
        return re.fullmatch(pattern, value, re.DOTALL) is not None
    except re.error:  # a Java-only construct: not checked here
        return True


def check_json(service: str, operation: str, params: dict) -> None:
    """Raise Refusal for a JSON request botocore's model says the service refuses."""
    try:
        shape = model(service).operation_model(operation).input_shape
    except Exception:  # an operation botocore does not know: moto answers it
        return
    if shape is None:
        return
    problems: list[str] = []
    _check_json(shape, params, "", problems)
    if problems:
        raise Refusal("ValidationException", validation_message(problems))


# -- EC2 query ----------------------------------------------------------------------------------
def _serialized(name: str, member) -> str:
    return member.serialization.get("queryName") or \
        (member.serialization.get("name") or name)[:1].upper() + \
        (member.serialization.get("name") or name)[1:]


def _check_query(shape, parts: list[str], key: str, value: str) -> None:
    t = shape.type_name
    if t == "structure":
        names = {_serialized(n, m): m for n, m in shape.members.items()}
        if not parts or parts[0] not in names:
            raise Refusal("UnknownParameter", f"The parameter {key} is not recognized")
        return _check_query(names[parts[0]], parts[1:], key, value)
    if t == "list":
        if not parts or not parts[0].isdigit():
            raise Refusal("UnknownParameter", f"The parameter {key} is not recognized")
        return _check_query(shape.member, parts[1:], key, value)
    if parts:
        raise Refusal("UnknownParameter", f"The parameter {key} is not recognized")
    bad = (t == "string" and shape.enum and value not in shape.enum) \
        or (t in ("integer", "long") and not re.fullmatch(r"-?\d+", value)) \
        or (t == "boolean" and value.lower() not in ("true", "false"))
    if bad:
        raise Refusal("InvalidParameterValue", f"Value ({value}) for parameter {key} is invalid.")


def check_query(service: str, params: dict) -> None:
    """Raise Refusal for an EC2 query request whose parameters botocore's model refuses."""
    action = params.get("Action")
    try:
        shape = model(service).operation_model(str(action)).input_shape
    except Exception:
        return
    if shape is None:
        return
    for key, value in params.items():
        if key in ("Action", "Version"):
            continue
        for one in value if isinstance(value, list) else [value]:
            _check_query(shape, key.split("."), key, one)
