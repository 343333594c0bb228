"""What the user asked for, validated: InstanceSpec, Schedule, and the small parsers.

Every parser raises UserError with a message that names the fix. Nothing here touches the
network, the store or an SDK.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field, replace

from .errors import UserError

_DURATION_RE = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_UNIT_SECONDS = (86400, 3600, 60, 1)
MAX_GPU_COUNT = 16
MAX_DISK_GB = 65536


def parse_duration(text: str, *, what: str = "duration") -> int:
    """'45m', '2h', '1h30m', '90s', '1d' -> seconds. A bare number means minutes."""
    s = str(text).strip().lower()
    if s.isdigit() and len(s) <= 9:
        seconds = int(s) * 60
    else:
        m = _DURATION_RE.fullmatch(s)
        if not s or not m or not any(m.groups()) or len(s) > 24:
            raise UserError(f"invalid {what} {text!r}: use forms like 45m, 2h, 1h30m or 90s")
        seconds = sum(int(g) * u for g, u in zip(m.groups(), _UNIT_SECONDS) if g)
    if seconds <= 0:
        raise UserError(f"invalid {what} {text!r}: it must be longer than zero")
    return seconds


def format_duration(seconds: int | float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size or (unit == "s" and not parts):
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts)


def parse_gpu(text: str | None, known: set[str]) -> tuple[str, int]:
    """'t4' -> ('t4', 1); 't4:2' -> ('t4', 2); 'none' -> ('none', 0)."""
    raw = (text or "none").strip().lower()
    name, sep, count_s = raw.partition(":")
    if name in ("none", "cpu", ""):
        if sep:
            raise UserError(f"invalid --gpu {text!r}: 'none' takes no count")
        return "none", 0
    if name not in known:
        raise UserError(
            f"unknown GPU {name!r}: use one of {', '.join(sorted(known))} (see `nbctl gpus`)"
        )
    if not sep:
        return name, 1
    if not count_s.isdigit() or not 1 <= int(count_s) <= MAX_GPU_COUNT:
        raise UserError(
            f"invalid GPU count in --gpu {text!r}: use {name}:N with N from 1 to {MAX_GPU_COUNT}"
        )
    return name, int(count_s)


@dataclass(frozen=True)
class Schedule:
    """5-field cron for stop and/or start, in an IANA time zone."""

    tz: str
    stop: str | None = None
    start: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class InstanceSpec:
    """A validated request for one notebook machine."""

    name: str
    provider: str
    gpu: str = "none"
    gpu_count: int = 0
    preemptible: bool = False
    region: str | None = None
    zones: tuple[str, ...] = ()
    image: str | None = None
    disk_gb: int | None = None
    idle_timeout: int | None = None  # seconds
    schedule: Schedule | None = None
    owner: str = "nbctl"
    labels: dict[str, str] = field(default_factory=dict)

    def with_zone(self, zone: str) -> "InstanceSpec":
        return replace(self, zones=(zone,))

    @property
    def zone(self) -> str | None:
        return self.zones[0] if self.zones else None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["zones"] = list(self.zones)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "InstanceSpec":
        d = dict(d)
        d["zones"] = tuple(d.get("zones") or ())
        if d.get("schedule"):
            d["schedule"] = Schedule(**d["schedule"])
        return cls(**d)

    def spec_hash(self) -> str:
        """Hash of what defines the machine (not of mutable policies such as schedules)."""
        core = {k: self.to_dict()[k] for k in
                ("name", "provider", "gpu", "gpu_count", "preemptible", "image", "disk_gb")}
        blob = json.dumps(core, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


def validate_disk(disk_gb: int | None) -> int | None:
    if disk_gb is None:
        return None
    if not 10 <= int(disk_gb) <= MAX_DISK_GB:
        raise UserError(f"invalid --disk-gb {disk_gb}: use a size from 10 to {MAX_DISK_GB} GB")
    return int(disk_gb)
