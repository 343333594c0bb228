"""moto's response serializer, the same answers in less CPU time.

moto writes each response by walking botocore's output shape and, for every member of every
object, asking its attribute picker which Python attribute holds the value: six alias
providers built and asked, then every response transformer's key path compared, 15,000 times
for 100 EC2 instances. Those answers depend only on the object's type, the member and its
shape, never on the values, so within one response they are worked out once per (type, member,
shape, path) and reused. EC2's XML is then written directly, as xmltodict would write it,
instead of through a SAX generator call by call.

What moto answers is unchanged (tests/aws/test_emulator_serialize.py holds the two to the same
bytes); only the emulator's CPU time is: a DescribeInstances of 300 instances took 1.1-1.5 s
of it, on the same cores as the nbctl that bench_fleet.py measures, and takes 0.3-0.4 s.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from xml.sax.saxutils import escape, quoteattr  # what xmltodict's XMLGenerator writes with

_MISSING = object()
_REPLACED: dict[str, Any] = {}  # moto's own functions, by name, once install() has run


def install() -> None:
    """Patch moto's serializers' value lookup and EC2's XML writer (once per process)."""
    if _REPLACED:
        return
    from moto.core import serialize

    get_value = _REPLACED["get_value"] = serialize.ResponseSerializer.get_value
    write = _REPLACED["_serialize_body"] = serialize.EC2Serializer._serialize_body

    def value_of(self, value: Any, key: str, shape) -> Any:
        if type(self._value_picker) is not serialize.XFormedAttributePicker:
            return get_value(self, value, key, shape)
        return _pick(self, serialize.AttributePickerContext, value, key, shape)

    def body(self, body: dict) -> str:
        return (None if self.pretty_print else unparse(body)) or write(self, body)

    serialize.ResponseSerializer.get_value = value_of
    serialize.EC2Serializer._serialize_body = body


@contextmanager
def moto_own() -> Iterator[None]:
    """moto's own lookup and writer for the while (to compare the two answers)."""
    from moto.core import serialize

    ours = serialize.ResponseSerializer.get_value, serialize.EC2Serializer._serialize_body
    serialize.ResponseSerializer.get_value = _REPLACED["get_value"]
    serialize.EC2Serializer._serialize_body = _REPLACED["_serialize_body"]
    try:
        yield
    finally:
        serialize.ResponseSerializer.get_value, serialize.EC2Serializer._serialize_body = ours


def _pick(serializer, context_type: type, obj: Any, key: str, shape) -> Any:
    """XFormedAttributePicker's answer for obj's member `key`, with the attribute names to
    try and the response transformer to apply worked out once per response (moto makes a
    picker per response) for each (type, member, shape, path)."""
    picker = serializer._value_picker
    memo = picker.__dict__.get("_nbctl_memo")
    if memo is None:
        memo = picker.__dict__["_nbctl_memo"] = {}
    path = ".".join(serializer.path)
    where = (type(obj), id(getattr(obj, "Meta", None)), key, id(shape),
             id(getattr(shape, "parent", None)), path)
    plan = memo.get(where)
    if plan is None:
        context = context_type(obj=obj, key=key, shape=shape,
                               operation_model=serializer.operation_model,
                               service_model=serializer.operation_model.service_model,
                               key_path=path)
        transform = next((t for suffix, t in picker.response_transformers.items()
                          if f"{path}.{key}".endswith(suffix)), None)
        plan = memo[where] = (tuple((k, "." in k) for k in picker.get_possible_keys(context)),
                              transform)
    names, transform = plan
    value, by_item = None, hasattr(obj, "__getitem__")
    for name, dotted in names:  # moto.core.utils.get_value, inlined
        if dotted:
            from moto.core.utils import get_value
            found = get_value(obj, name, _MISSING)
        elif by_item:
            try:
                found = obj[name]
            except (KeyError, IndexError, TypeError, AttributeError):
                found = _MISSING
        else:
            found = getattr(obj, name, _MISSING)
        if found is not _MISSING:
            value = found
            break
    return transform(value) if transform is not None else value


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*\Z")
_NAMES: set[str] = set()  # names already matched against _NAME


class _Unusual(Exception):
    """Something xmltodict handles that this writer does not: xmltodict writes it."""


def unparse(body: dict) -> str | None:
    """`xmltodict.unparse(body, full_document=True, short_empty_elements=True)`, byte for
    byte, for the plain bodies moto's EC2 serializer makes (elements, lists, text, plain
    attributes); None for anything else, which xmltodict then writes."""
    if len(body) != 1:
        return None
    out = ['<?xml version="1.0" encoding="utf-8"?>\n']
    try:
        for key, value in body.items():
            _element(out, key, value, root=True)
    except _Unusual:
        return None
    return "".join(out)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (bytes, bytearray, memoryview)):
        raise _Unusual
    return str(value)


def _element(out: list, key: Any, value: Any, root: bool = False) -> None:
    if key not in _NAMES:
        if not isinstance(key, str) or not _NAME.match(key):
            raise _Unusual
        _NAMES.add(key)
    if not hasattr(value, "__iter__") or isinstance(value, (str, bytes, bytearray,
                                                            memoryview, dict)):
        value = [value]
    elif root and len(value) > 1:
        raise _Unusual  # xmltodict refuses a document with two roots
    for v in value:
        if v is None:
            v = {}
        elif not isinstance(v, (dict, str)):
            if hasattr(v, "__iter__"):
                raise _Unusual
            v = _text(v)
        if isinstance(v, str):
            v = {"#text": v}
        out.append("<" + key)
        text, children = None, []
        for ik, iv in v.items():
            if ik == "#text":
                text = None if iv is None else _text(iv)
            elif not isinstance(ik, str) or ik.startswith(("#", "?", "!")):
                raise _Unusual
            elif ik.startswith("@"):
                if ik == "@xmlns" and isinstance(iv, dict) or not _NAME.match(ik[1:]):
                    raise _Unusual
                out.append(" %s=%s" % (ik[1:], quoteattr("" if iv is None else _text(iv))))
            elif not (isinstance(iv, list) and not iv):
                children.append((ik, iv))
        if not children and not text:
            out.append("/>")
            continue
        out.append(">")
        for ck, cv in children:
            _element(out, ck, cv)
        if text:
            out.append(escape(text))
        out.append("</%s>" % key)
