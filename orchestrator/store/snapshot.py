"""The stored instances of a SQLite store, read through the standard library's sqlite3 (the
driver SQLAlchemy itself uses there), for the commands that only read: importing SQLAlchemy
takes 0.4-0.5 s on a 2-core machine, more than `nbctl status` over 1,000 machines may.

A Snapshot reads only a database already at this nbctl's schema (else `open` returns None and
the caller opens the Store, which creates or migrates it); it reads read-only, one short
connection per read, waiting on a writer's lock as the Store does. Writes go through the Store,
loaded only when there is something to write.
"""
from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING

from ..model import Instance, State
from .base import SCHEMA_VERSION, Record, changed, default_url, record_of

if TYPE_CHECKING:  # pragma: no cover
    from .db import Store

_COLUMNS = ("name, provider, state, backend, native_id, zone, gpu, gpu_count, preemptible, url, "
            "detail, spec_json, labels_json, created_at, updated_at, state_since")


class Snapshot:
    """Reads of one SQLite store's instances; `reconcile` and `store()` reach the Store."""

    def __init__(self, path: Path, url: str):
        self.path, self.url = path, url
        self._store: "Store | None" = None

    @classmethod
    def open(cls, url: str | None = None) -> "Snapshot | None":
        """A Snapshot of the store at `url` (default: nbctl's), or None where it cannot serve:
        not SQLite, no database yet, another schema version, or unreadable."""
        url = url or default_url()
        if not url.startswith("sqlite:///") or url.endswith(":memory:"):
            return None
        snap = cls(Path(url.split("sqlite:///", 1)[1]), url)
        if not snap.path.is_file():
            return None
        try:
            with snap._connect() as conn:
                row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        except sqlite3.Error:
            return None
        return snap if row and row[0] == str(SCHEMA_VERSION) else None

    def _connect(self) -> closing:
        conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        conn.row_factory = sqlite3.Row
        return closing(conn)

    def all(self, provider: str | None = None) -> list[Record]:
        """Every stored instance (of `provider` only, if given), by name: as Store.all."""
        query, args = f"SELECT {_COLUMNS} FROM instances", ()
        if provider:
            query, args = query + " WHERE provider = ?", (provider,)
        with self._connect() as conn:
            return [record_of(r) for r in conn.execute(query + " ORDER BY name", args)]

    def states(self) -> dict[str, dict[str, State]]:
        """provider -> {name: state}: as Store.states."""
        out: dict[str, dict[str, State]] = {}
        with self._connect() as conn:
            for name, provider, state in conn.execute(
                    "SELECT name, provider, state FROM instances"):
                out.setdefault(provider, {})[name] = State(state)
        return out

    def reconcile(self, seen: list[tuple[Record | None, Instance]]) -> int:
        """Store.reconcile, opening the Store only when some row differs."""
        if not changed(seen):
            return 0
        return self.store().reconcile(seen)

    def store(self) -> "Store":
        """The full Store at the same URL, opened on first use."""
        if self._store is None:
            from .db import Store
            self._store = Store(self.url)
        return self._store
