"""The small parsers of what the user typed: durations, GPU names and counts, disk sizes,
zone and region names.

Every parser raises UserError with a message that names the fix. Numbers are ASCII digits
only, with stated bounds (Python's int() and regex \\d also take '¹' or fullwidth digits).
Nothing here touches the network, the store or an SDK.
"""
from __future__ import annotations

import re

from .errors import UserError

_DURATION_RE = re.compile(r"(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?")
_ASCII_NUMBER = re.compile(r"[0-9]+")
_GPU_COUNT = re.compile(r"[0-9]{1,3}")
_PLACE_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_UNIT_SECONDS = (86400, 3600, 60, 1)
MAX_GPU_COUNT = 16
MAX_DISK_GB = 65536
MAX_DURATION_DAYS = 365


def parse_duration(text: str, *, what: str = "duration") -> int:
    """'45m', '2h', '1h30m', '90s', '1d' -> seconds. A bare number means minutes.
    At most MAX_DURATION_DAYS days."""
    s = str(text).strip().lower()
    if len(s) > 40:
        raise UserError(f"invalid {what} {str(text)[:20]!r}...: use forms like 45m, 2h, 1h30m or "
                        f"90s, at most {MAX_DURATION_DAYS}d")
    if _ASCII_NUMBER.fullmatch(s):
        seconds = int(s) * 60
    else:
        m = _DURATION_RE.fullmatch(s)
        if not s or not m or not any(m.groups()):
            raise UserError(f"invalid {what} {text!r}: use forms like 45m, 2h, 1h30m or 90s "
                            f"(ASCII digits)")
        seconds = sum(int(g) * u for g, u in zip(m.groups(), _UNIT_SECONDS) if g)
    if seconds <= 0:
        raise UserError(f"invalid {what} {text!r}: it must be longer than zero")
    if seconds > MAX_DURATION_DAYS * 86400:
        raise UserError(f"invalid {what} {text!r}: use at most {MAX_DURATION_DAYS}d")
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
    raw = ("none" if text is None else str(text)).strip().lower()
    if not raw:
        raise UserError("invalid --gpu '': name a GPU such as t4 or t4:2 (see `nbctl gpus`), "
                        "or none")
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
    if not _GPU_COUNT.fullmatch(count_s) or not 1 <= int(count_s) <= MAX_GPU_COUNT:
        raise UserError(
            f"invalid GPU count in --gpu {text!r}: use {name}:N with N from 1 to {MAX_GPU_COUNT} "
            f"(ASCII digits)"
        )
    return name, int(count_s)


def validate_disk(disk_gb: int | None) -> int | None:
    if disk_gb is None:
        return None
    if not 10 <= int(disk_gb) <= MAX_DISK_GB:
        raise UserError(f"invalid --disk-gb {disk_gb}: use a size from 10 to {MAX_DISK_GB} GB")
    return int(disk_gb)


def validate_place(text: str, option: str, example: str) -> str:
    """A zone or region name: ASCII lowercase letters, digits and '-', 1-63 characters, as
    every cloud nbctl knows spells them."""
    if not _PLACE_RE.fullmatch(text):
        raise UserError(f"invalid {option} {text!r}: use a name of lowercase ASCII letters, "
                        f"digits and '-', such as {example}")
    return text
