"""What cloud-init on an EC2 Linux image does with an instance's user data at a boot.

References: cloud-init's "User data formats" (cloudinit.readthedocs.io/en/latest/explanation/
format.html), its module reference for `scripts_user` ("Frequency: once-per-instance") and
`cloud_final_modules`, and the EC2 User Guide "Run commands when you launch an EC2 instance
with user data input" (user-data.html: "By default, user data scripts and cloud-init directives
run only during the boot cycle when you first launch an instance"):
- gzip-compressed user data is uncompressed first;
- a user-data script (starts with `#!`, or a MIME part `text/x-shellscript`) is run by the
  `scripts_user` module, once per instance: at the first boot only, not after a stop and start;
- a boothook (starts with `#cloud-boothook`, or a part `text/cloud-boothook`) runs at every
  boot, before the scripts, as the rest of the text after that first line;
- a part `text/x-shellscript-per-boot` runs at every boot (`-per-instance`: once per instance);
- a `text/cloud-config` part whose `cloud_final_modules` lists `[scripts-user, always]` makes
  the user-data scripts run at every boot (the recipe of AWS's knowledge-center article "run
  a script with every restart of my Amazon EC2 Linux instance");
- everything else (cloud-config's own modules, include files, part handlers...) is not
  emulated: `Plan.ignored` names it, and nothing of it runs.
"""
from __future__ import annotations

import email
import gzip
from dataclasses import dataclass, field

BOOTHOOK = "#cloud-boothook"
ALWAYS = "always"


@dataclass
class Plan:
    """What runs at one boot, in order: (name, script text) pairs."""

    run: list[tuple[str, bytes]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # formats nbctl's tests do not emulate


@dataclass
class _Parts:
    boothooks: list[bytes] = field(default_factory=list)
    per_boot: list[bytes] = field(default_factory=list)
    per_instance: list[bytes] = field(default_factory=list)
    scripts_always: bool = False
    ignored: list[str] = field(default_factory=list)


def plan(user_data: bytes | None, *, first_boot: bool) -> Plan:
    """The scripts cloud-init runs at this boot of the instance, boothooks first."""
    if not user_data:
        return Plan()
    parts = _Parts()
    _read(user_data, parts)
    scripts = parts.per_boot + (parts.per_instance if first_boot or parts.scripts_always else [])
    out = Plan(ignored=parts.ignored)
    out.run = [(f"boothook-{n:03d}", s) for n, s in enumerate(parts.boothooks, 1)]
    out.run += [(f"part-{n:03d}", s) for n, s in enumerate(scripts, 1)]
    return out


def _read(data: bytes, parts: _Parts) -> None:
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    head = data.lstrip()[:200].lower()
    if data.startswith(BOOTHOOK.encode()):
        parts.boothooks.append(data.split(b"\n", 1)[1] if b"\n" in data else b"")
    elif data.startswith(b"#!"):
        parts.per_instance.append(data)
    elif head.startswith(b"content-type: multipart/") or head.startswith(b"mime-version"):
        _read_mime(data, parts)
    else:
        parts.ignored.append(data.split(b"\n", 1)[0][:40].decode(errors="replace") or "(empty)")


def _read_mime(data: bytes, parts: _Parts) -> None:
    message = email.message_from_bytes(data)
    for part in message.walk():
        if part.is_multipart():
            continue
        kind = part.get_content_type()
        body = part.get_payload(decode=True) or b""
        if kind == "text/x-shellscript" or kind == "text/x-shellscript-per-instance":
            parts.per_instance.append(body)
        elif kind == "text/x-shellscript-per-boot":
            parts.per_boot.append(body)
        elif kind == "text/cloud-boothook":
            _read(body if body.startswith(BOOTHOOK.encode()) else
                  BOOTHOOK.encode() + b"\n" + body, parts)
        elif kind == "text/cloud-config":
            parts.scripts_always |= _scripts_user_always(body)
            parts.ignored.append(kind)
        else:
            parts.ignored.append(kind)


def _scripts_user_always(config: bytes) -> bool:
    """True if this cloud-config sets scripts-user's frequency to always."""
    import yaml

    try:
        doc = yaml.safe_load(config) or {}
    except yaml.YAMLError:
        return False
    for module in (doc.get("cloud_final_modules") or []) if isinstance(doc, dict) else []:
        if isinstance(module, list) and len(module) >= 2 and \
                str(module[0]).replace("_", "-") == "scripts-user" and module[1] == ALWAYS:
            return True
    return False
