"""What this computer remembers about the AWS instances nbctl made, in one small JSON file
under nbctl's data dir (aws-locations.json):

- `locations`: name -> [backend, region], so that the next command goes straight to it;
- `launches`: name -> the id of its current EC2 launch. It goes into RunInstances'
  ClientToken, so a launch retried by any process (after a crash, a kill, a lost answer) is
  the same request; it is drawn afresh once the instance is deleted, so a new launch of the
  same name is a new request.

Names, regions and random ids only: nothing here is a secret. A missing or unreadable file
costs a search of every region and, at worst, a launch id drawn anew.
"""
from __future__ import annotations

import json
import os
import secrets
from pathlib import Path


class Hints:
    def __init__(self, path: Path):
        self.path = path

    def read(self) -> dict:
        """{"locations": {...}, "launches": {...}}; an older flat {name: [backend, region]}
        file is read as locations."""
        try:
            raw = json.loads(self.path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            raw = {}
        if not isinstance(raw, dict):
            raw = {}
        if "locations" not in raw and "launches" not in raw:
            raw = {"locations": {k: v for k, v in raw.items() if isinstance(v, list)}}
        return {"locations": dict(raw.get("locations") or {}),
                "launches": dict(raw.get("launches") or {})}

    def _write(self, hints: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(hints, sort_keys=True))
        os.replace(tmp, self.path)  # atomic: a reader sees the old file or the new one

    # -- locations -----------------------------------------------------------------------
    def locations(self) -> dict[str, tuple[str, str]]:
        return {name: (v[0], v[1]) for name, v in self.read()["locations"].items()}

    def set_location(self, name: str, backend: str | None, region: str | None) -> None:
        """Remember where `name` lives; None forgets it."""
        hints = self.read()
        if backend and region:
            hints["locations"][name] = [backend, region]
        elif hints["locations"].pop(name, None) is None:
            return
        self._write(hints)

    # -- launches ------------------------------------------------------------------------
    def launch(self, name: str) -> str:
        """The id of `name`'s current launch, drawn and written down before first use, so that
        it is on disk before any request carries it."""
        hints = self.read()
        current = hints["launches"].get(name)
        if current:
            return current
        hints["launches"][name] = secrets.token_hex(8)
        self._write(hints)
        return hints["launches"][name]

    def end_launch(self, name: str) -> None:
        """The launch is over (its instance deleted): the next one draws a new id."""
        hints = self.read()
        if hints["launches"].pop(name, None) is not None:
            self._write(hints)
