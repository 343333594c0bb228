"""Schedules nbctl keeps (the `schedules` table), and the claim that fires each one once."""
from __future__ import annotations

import time

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.engine import Engine

from ..model import Schedule
from .schema import schedules

# The columns a fire may be claimed on: when each action was last performed.
FIRE_COLUMNS = ("last_stop_at", "last_start_at")


class ScheduleRows:
    """Store verbs over the `schedules` table."""

    engine: Engine

    def save_schedule(self, name: str, provider: str, schedule: Schedule, engine: str) -> None:
        """Insert or replace the schedule of `name`; `engine` is "native" or "scheduler"."""
        values = dict(provider=provider, tz=schedule.tz, stop_cron=schedule.stop,
                      start_cron=schedule.start, engine=engine)
        with self.engine.begin() as conn:
            if not conn.execute(update(schedules).where(schedules.c.name == name)
                                .values(**values)).rowcount:
                conn.execute(insert(schedules).values(name=name, created_at=time.time(), **values))

    def get_schedule(self, name: str) -> dict | None:
        """The schedule row of `name`, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(select(schedules).where(schedules.c.name == name)).mappings().first()
        return dict(row) if row else None

    def all_schedules(self, engine: str | None = None) -> list[dict]:
        """Every schedule row (run by `engine` only, if given), by name."""
        q = select(schedules).order_by(schedules.c.name)
        if engine:
            q = q.where(schedules.c.engine == engine)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    def remove_schedule(self, name: str) -> bool:
        """Forget the schedule of `name`; True if there was one."""
        with self.engine.begin() as conn:
            return bool(conn.execute(delete(schedules).where(schedules.c.name == name)).rowcount)

    def claim_fire(self, name: str, column: str, fire_at: float) -> bool:
        """Mark the fire at `fire_at` as taken, in `column` ("last_stop_at" or "last_start_at").

        One compare-and-set UPDATE (`column` is NULL or older than `fire_at`, on a schedule the
        nbctl scheduler runs): True only for the one caller, in any process or host sharing
        this store, whose UPDATE changed the row."""
        if column not in FIRE_COLUMNS:
            raise ValueError(f"not a fire column: {column!r}")
        col = schedules.c[column]
        with self.engine.begin() as conn:
            res = conn.execute(update(schedules)
                               .where(schedules.c.name == name, schedules.c.engine == "scheduler",
                                      or_(col.is_(None), col < fire_at))
                               .values({column: fire_at}))
            return res.rowcount == 1
