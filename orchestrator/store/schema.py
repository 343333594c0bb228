"""The store's tables, its schema version, and the migrations that bring a database to it.

Times are epoch seconds (UTC) in float columns, which every database compares the same way.
A migration from version N-1 to N only adds: an older nbctl's rows stay readable.
"""
from __future__ import annotations

import time
from typing import Callable

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from ..errors import UserError
from .base import SCHEMA_VERSION

metadata = MetaData()

meta = Table("meta", metadata,
             Column("key", String(64), primary_key=True),
             Column("value", Text, nullable=False))

instances = Table(
    "instances", metadata,
    Column("name", String(128), primary_key=True),
    Column("provider", String(32), nullable=False),
    Column("state", String(16), nullable=False),
    Column("backend", String(32)),
    Column("native_id", String(256)),
    Column("zone", String(64)),
    Column("gpu", String(32)),
    Column("gpu_count", Integer, nullable=False, default=0),
    Column("preemptible", Boolean, nullable=False, default=False),
    Column("url", Text),
    Column("detail", Text),
    Column("spec_json", Text),
    Column("spec_hash", String(32)),
    Column("labels_json", Text),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("state_since", Float, nullable=False),
)

events = Table(
    "events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False, index=True),
    Column("name", String(128), nullable=False, index=True),
    Column("provider", String(32)),
    Column("kind", String(32), nullable=False),  # state | created | deleted | idle-stop | ...
    Column("state", String(16)),
    Column("detail", Text),
)

locks = Table(
    "locks", metadata,
    Column("key", String(200), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("acquired_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
)

schedules = Table(
    "schedules", metadata,
    Column("name", String(128), primary_key=True),
    Column("provider", String(32), nullable=False),
    Column("tz", String(64), nullable=False),
    Column("stop_cron", String(128)),
    Column("start_cron", String(128)),
    Column("engine", String(32), nullable=False),  # "native" (the cloud runs it) | "scheduler"
    Column("created_at", Float, nullable=False),
    Column("last_stop_at", Float),   # the fire time last performed, for catch-up and no repeats
    Column("last_start_at", Float),
)

jobs = Table(
    "jobs", metadata,
    Column("run_id", String(64), primary_key=True),
    Column("instance", String(128), nullable=False, index=True),
    Column("provider", String(32), nullable=False),
    Column("state", String(16), nullable=False),  # see nbctl_cloud.model.JobState
    Column("spec_json", Text, nullable=False),     # JobSpec: command, checkpoint URL, limits
    Column("restarts", Integer, nullable=False, default=0),
    Column("preemptions", Integer, nullable=False, default=0),
    Column("exit_code", Integer),
    Column("detail", Text),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("started_at", Float),                   # when the current attempt was started
    Column("lease_holder", String(200)),           # the controller working on it now
    Column("lease_until", Float),
)

# Migrations from version N-1 to N, in order. Each takes a connection inside a transaction.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {
    1: lambda conn: metadata.create_all(conn, tables=[meta, instances, events, locks, schedules]),
    2: lambda conn: metadata.create_all(conn, tables=[jobs]),
}


def migrate(engine: Engine, url: str) -> None:
    """Bring the database at `engine` to SCHEMA_VERSION; UserError if it is already newer."""
    # Two nbctl processes may meet an empty database at once: the loser of the race
    # gets "already exists" or a unique violation, re-reads the version and moves on.
    for attempt in range(5):
        try:
            return _migrate_once(engine, url)
        except (OperationalError, IntegrityError, ProgrammingError):
            if attempt == 4:
                raise
            time.sleep(0.05 * (attempt + 1))


def _migrate_once(engine: Engine, url: str) -> None:
    with engine.begin() as conn:
        current = read_version(conn) if engine.dialect.has_table(conn, "meta") else 0
        if current > SCHEMA_VERSION:
            raise UserError(f"the state store {url} has schema {current}, newer than this "
                            f"nbctl ({SCHEMA_VERSION}): upgrade nbctl")
        for version in range(current + 1, SCHEMA_VERSION + 1):
            MIGRATIONS[version](conn)
            _set_meta(conn, "schema_version", str(version))


def read_version(conn: Connection) -> int:
    """The schema version recorded in `meta`, 0 where none is."""
    row = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).first()
    return int(row[0]) if row else 0


def _set_meta(conn: Connection, key: str, value: str) -> None:
    if conn.execute(update(meta).where(meta.c.key == key).values(value=value)).rowcount == 0:
        conn.execute(insert(meta).values(key=key, value=value))
