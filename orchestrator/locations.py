"""Where a provider's instances live, remembered; and the dispatch of a provider with several
backends (GCP: Compute Engine and Workbench; AWS: EC2 and SageMaker) to the one that holds a name.

Finding an instance by name takes a search (a few list or describe calls). What a search found
(backend, zone or region) is remembered in memory and in a small JSON file under nbctl's data
dir, `<provider>-locations.json`, so that the next command, in this process or another, goes
straight to the instance. The file holds names and places only, never a secret. A stale entry
costs one fresh search; a missing, corrupt or older file costs a search, never an error.

The file is a JSON object of sections, {section: {key: value}}: the location cache owns
`locations`, and a provider may keep other small records of its own beside it (`StateFile`).
Writes replace the whole file atomically, so a reader sees the old file or the new one.
"""
from __future__ import annotations

import json
import os
import threading
import time
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, NamedTuple

from .errors import NotFound
from .model import Instance

# How long a search that found nothing is trusted within one process, so that one search answers
# the core's exists-check and what follows it. Trusting it cannot create twice: a create carries
# the cloud's idempotency key, and an existing name is refused by the cloud.
ABSENT_TTL = 10.0


def each_place(fn: Callable[[Any], Any], places: list) -> list:
    """fn(place) for every place at once (threads: each waits on its own request); the
    results in the order of `places`. The first place's error, in that order, is raised."""
    if len(places) < 2:
        return [fn(p) for p in places]
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(max_workers=min(len(places), 16)) as pool:
        futures = [pool.submit(fn, p) for p in places]
    return [f.result() for f in futures]


class StateFile:
    """A small JSON object of sections under nbctl's data dir, replaced atomically.

    Tolerant: a missing or unreadable file, or a section that is not an object, reads empty;
    top-level entries that are not sections (an older flat layout) are dropped on write."""

    def __init__(self, path: Path):
        self.path = path

    def _read_all(self) -> dict[str, dict]:
        try:
            raw = json.loads(self.path.read_text())
        except (OSError, ValueError):  # missing, unreadable, not JSON
            return {}
        if not isinstance(raw, dict):
            return {}
        return {k: v for k, v in raw.items() if isinstance(v, dict)}

    def read(self, section: str) -> dict[str, Any]:
        return dict(self._read_all().get(section) or {})

    def put(self, section: str, key: str, value: Any) -> None:
        """Set one entry (None removes it); the file is rewritten only when it changes."""
        data = self._read_all()
        entries = data.setdefault(section, {})
        if value is None:
            if entries.pop(key, None) is None:
                return
        elif entries.get(key) == value:
            return
        else:
            entries[key] = value
        self._write(data)

    def _write(self, data: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(data, sort_keys=True))
        os.replace(tmp, self.path)


def state_file(provider: str) -> StateFile:
    """The provider's file under nbctl's data dir: `<provider>-locations.json`."""
    from .config import data_dir
    return StateFile(data_dir() / f"{provider}-locations.json")


class Location(NamedTuple):
    backend: str  # which of the provider's backends holds the instance
    place: str  # where: a zone, a region, a location


class LocationCache:
    """name -> Location, in memory and in the `locations` section of a StateFile; plus a short
    in-process memory of names a full search did not find."""

    SECTION = "locations"

    def __init__(self, file: StateFile, *, absent_ttl: float = ABSENT_TTL,
                 clock: Callable[[], float] = time.monotonic):
        self.file = file
        self.absent_ttl = absent_ttl
        self.clock = clock
        self._memory: dict[str, Location] = {}
        self._absent: dict[str, float] = {}  # name -> when a full search last found nothing

    def _remembered(self) -> dict[str, Location]:
        return {name: Location(v[0], v[1]) for name, v in self.file.read(self.SECTION).items()
                if isinstance(v, list) and len(v) == 2 and all(isinstance(s, str) and s for s in v)}

    def get(self, name: str) -> Location | None:
        """Where `name` was last seen, by this process or written down by another."""
        if name not in self._memory:
            found = self._remembered().get(name)
            if found is None:
                return None
            self._memory[name] = found
        return self._memory[name]

    def remember(self, name: str, where: Location) -> None:
        """Found or made there: in memory and in the file."""
        self._memory[name] = where
        self._absent.pop(name, None)
        self.file.put(self.SECTION, name, list(where))

    def seen(self, name: str, where: Location) -> None:
        """Seen there in a listing: in memory only (a listing would rewrite the file per name)."""
        self._memory[name] = where

    def forget(self, name: str) -> None:
        """Not there any more (deleted, or moved): the next look searches."""
        self._memory.pop(name, None)
        self.file.put(self.SECTION, name, None)

    def places(self, backend: str | None = None) -> list[str]:
        """Every place an instance (of this backend) is known to live, without repeats."""
        known = [*self._remembered().values(), *self._memory.values()]
        return list(dict.fromkeys(w.place for w in known if backend in (None, w.backend)))

    def known_absent(self, name: str) -> bool:
        """A full search found nothing less than `absent_ttl` seconds ago."""
        at = self._absent.get(name)
        return at is not None and self.clock() - at < self.absent_ttl

    def absent(self, name: str) -> None:
        self._absent[name] = self.clock()

    def unsure(self, name: str) -> None:
        """Something may have been made under this name (a create, even a failed one)."""
        self._absent.pop(name, None)


class MultiBackend:
    """For a provider with several backends: each registered by name with a lazy factory (the
    SDK loads on first use); `locate` finds which one holds a name and where, from the location
    cache, else by the provider's `search`. It defines the provider's `get`, so it comes before
    Provider among the provider's bases.

    The provider supplies `search(name)` (a full search of every backend) and `not_found`, its
    sentence for a missing name (formatted with `name`). Each backend answers
    `get(name, place)` and, for `on_backend`, `verb(name, place, ...)`."""

    not_found = "no instance named {name!r}: see `nbctl status --refresh`"
    absent_ttl = ABSENT_TTL

    def search(self, name: str) -> Location | None:
        """Look for `name` in every backend and place, without the cache."""
        raise NotImplementedError

    # -- backends --------------------------------------------------------------------------
    @cached_property
    def _backend_registry(self) -> dict[str, list]:  # kind -> [factory, instance or None]
        return {}

    def register_backend(self, kind: str, factory: Callable[[], Any]) -> None:
        self._backend_registry[kind] = [factory, None]

    def backend(self, kind: str):
        """The backend of this kind, made on first use."""
        try:
            entry = self._backend_registry[kind]
        except KeyError:
            raise ValueError(f"{type(self).__name__} has no backend {kind!r}") from None
        if entry[1] is None:
            entry[1] = entry[0]()
        return entry[1]

    def close_backends(self) -> None:
        """Drop every backend made so far; they are made again on next use."""
        for entry in self._backend_registry.values():
            entry[1] = None

    # -- where instances live ----------------------------------------------------------------
    @cached_property
    def locations(self) -> LocationCache:
        return LocationCache(state_file(self.name), absent_ttl=self.absent_ttl)

    def locate(self, name: str) -> Location | None:
        """Where `name` lives: remembered, else searched (and remembered); None if a search
        finds nothing, or found nothing moments ago."""
        where = self.locations.get(name)
        if where is not None or self.locations.known_absent(name):
            return where
        where = self.search(name)
        if where is None:
            self.locations.absent(name)
        else:
            self.locations.remember(name, where)
        return where

    def require_location(self, name: str) -> Location:
        """Where `name` lives, or NotFound with the provider's sentence."""
        where = self.locate(name)
        if where is None:
            raise NotFound(self.not_found.format(name=name))
        return where

    def on_backend(self, name: str, verb: str, *args):
        """`verb` of the backend that holds `name`, called as backend.verb(name, place, *args);
        NotFound, with the provider's sentence, if none does."""
        where = self.require_location(name)
        return getattr(self.backend(where.backend), verb)(name, where.place, *args)

    def get(self, name: str) -> Instance | None:
        """The instance as its backend sees it now, or None: one direct call when the location
        is known. A stale entry (gone, or made anew elsewhere) is forgotten and costs one fresh
        search."""
        where = self.locate(name)
        if where is None:
            return None
        inst = self.backend(where.backend).get(name, where.place)
        if inst is None:
            self.locations.forget(name)
            where = self.locate(name)
            inst = self.backend(where.backend).get(name, where.place) if where else None
        return inst

    def create_in(self, name: str, where: Location, create: Callable[[], Instance]) -> Instance:
        """Run `create` (of `name` at `where`) and remember the place. Whatever happens, an
        absence remembered for `name` is dropped: even a failed create may leave something."""
        try:
            inst = create()
        finally:
            self.locations.unsure(name)
        self.locations.remember(name, where)
        return inst

    def listed(self, found: list[Instance],
               place: Callable[[Instance], str | None]) -> list[Instance]:
        """Note in memory where each listed instance lives (`place` reads it off); returns
        `found`."""
        for inst in found:
            at = place(inst)
            if inst.backend and at:
                self.locations.seen(inst.name, Location(inst.backend, at))
        return found
