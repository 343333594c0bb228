"""The history of what happened to each instance (the `events` table), which `cost` reads."""
from __future__ import annotations

import time

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection, Engine

from ..model import State
from .schema import events


def add_event(conn: Connection, name: str, provider: str | None, kind: str,
              state: str | None, detail: str | None) -> None:
    """Append one event, stamped now, inside the caller's transaction."""
    conn.execute(insert(events).values(at=time.time(), name=name, provider=provider,
                                       kind=kind, state=state, detail=detail))


class HistoryRows:
    """Store verbs over the `events` table."""

    engine: Engine

    def record_event(self, name: str, kind: str, *, provider: str | None = None,
                     state: State | None = None, detail: str | None = None) -> None:
        """Append one event for `name`, in its own transaction."""
        with self.engine.begin() as conn:
            add_event(conn, name, provider, kind, state.value if state else None, detail)

    def events(self, name: str | None = None, since: float = 0.0) -> list[dict]:
        """Events at or after `since` (of `name` only, if given), oldest first."""
        q = select(events).where(events.c.at >= since).order_by(events.c.at, events.c.id)
        if name:
            q = q.where(events.c.name == name)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]
