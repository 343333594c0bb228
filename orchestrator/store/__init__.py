"""State: SQLAlchemy Core over SQLite (default, a 0600 file under the data dir) or any URL
from NBCTL_STATE_URL (PostgreSQL for a team sharing one inventory). All of nbctl's SQL is here.

The cloud is the truth; the store is a cache of what the clouds said last, plus what only nbctl
knows: specs, schedules, jobs, and the history of state changes that `cost` reads.
Never write a secret here: specs hold names, sizes and policies only.
Each table's verbs live in their own module (instance_rows, history, schedule_rows, job_rows,
lock_rows); `Store` (db) joins them over one engine. `snapshot` reads the instances of a SQLite
store through the standard library alone: importing SQLAlchemy costs more than `nbctl status`
may take, so the commands that only read (and a refresh that finds nothing changed) never load
it. Importing this package loads nothing heavy: its SQLAlchemy names load on first use.
"""
from __future__ import annotations

from .base import SCHEMA_VERSION, Record, default_url

__all__ = ["Store", "Record", "SCHEMA_VERSION", "MIGRATIONS", "default_url", "process_holder",
           "metadata", "meta", "instances", "events", "locks", "schedules", "jobs"]


def __getattr__(name: str):
    if name in __all__:
        from . import db
        return getattr(db, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
