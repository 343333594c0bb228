"""`Store`: the state store through SQLAlchemy Core, migrated to SCHEMA_VERSION when opened;
its verbs, table by table, in the *_rows modules (the package's docstring says what it holds)."""
from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from .base import SCHEMA_VERSION, Record, default_url
from .history import HistoryRows
from .instance_rows import InstanceRows
from .job_rows import JobRows
from .lock_rows import LockRows, process_holder
from .schedule_rows import ScheduleRows
from .schema import (
    MIGRATIONS,
    events,
    instances,
    jobs,
    locks,
    meta,
    metadata,
    migrate,
    read_version,
    schedules,
)

__all__ = ["Store", "Record", "SCHEMA_VERSION", "MIGRATIONS", "default_url", "process_holder",
           "metadata", "meta", "instances", "events", "locks", "schedules", "jobs"]


def _prepare_sqlite_file(url: str) -> None:
    path = url.split("sqlite:///", 1)[1] if url.startswith("sqlite:///") else ""
    if not path or path == ":memory:":
        return
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    os.chmod(p, 0o600)  # also tightens a file an older version left wider


class Store(InstanceRows, HistoryRows, ScheduleRows, JobRows, LockRows):
    """nbctl's state at one URL, migrated to SCHEMA_VERSION when opened."""

    def __init__(self, url: str | None = None):
        self.url = url or default_url()
        if self.url.startswith(("postgresql://", "postgres://")):
            # psycopg 3 (the `postgres` extra), whatever SQLAlchemy's default driver is.
            self.url = "postgresql+psycopg://" + self.url.split("://", 1)[1]
        is_sqlite = self.url.startswith("sqlite")
        if is_sqlite:
            _prepare_sqlite_file(self.url)  # SQLite gives its journal the database's mode
        self.engine: Engine = create_engine(
            self.url, connect_args={"timeout": 30} if is_sqlite else {}, future=True)
        migrate(self.engine, self.url)

    def schema_version(self) -> int:
        """The schema version the database records."""
        with self.engine.connect() as conn:
            return read_version(conn)
