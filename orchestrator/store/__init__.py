"""State: SQLAlchemy Core over SQLite (default, a 0600 file under the data dir) or any URL
from NBCTL_STATE_URL (PostgreSQL for a team sharing one inventory).

The cloud is the truth; the store is a cache of what the clouds said last, plus what only nbctl
knows: specs, schedules, jobs, and the history of state changes that `cost` reads. Times are
epoch seconds (UTC) in float columns, which every database compares the same way.
Never write a secret here: specs hold names, sizes and policies only.
"""
from __future__ import annotations

import json
import os
import socket
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from .errors import BusyError
from .model import Instance, InstanceSpec, Schedule, State

SCHEMA_VERSION = 2
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
    Column("state", String(16), nullable=False),  # see nbctl_cloud.jobs.JobState
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


@dataclass
class Record:
    """One stored instance: the last known Instance, its spec, and bookkeeping times."""

    instance: Instance
    spec: InstanceSpec | None
    created_at: float
    updated_at: float
    state_since: float

    def machine_spec(self) -> InstanceSpec:
        """The spec it was made with, or (for one made elsewhere) what the cloud shows of it."""
        i = self.instance
        return self.spec or InstanceSpec(name=i.name, provider=i.provider, gpu=i.gpu or "none",
                                         gpu_count=i.gpu_count, preemptible=i.preemptible)

    def to_dict(self) -> dict:
        d = self.instance.to_dict()
        d.update(created_at=self.created_at, updated_at=self.updated_at,
                 state_since=self.state_since)
        return d


def default_url() -> str:
    url = os.environ.get("NBCTL_STATE_URL")
    if url:
        return url
    from .config import data_dir
    return f"sqlite:///{data_dir() / 'state.db'}"


def _prepare_sqlite_file(url: str) -> None:
    path = url.split("sqlite:///", 1)[1] if url.startswith("sqlite:///") else ""
    if not path or path == ":memory:":
        return
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    os.chmod(p, 0o600)  # also tightens a file an older version left wider


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Store:
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
        self._migrate()

    # -- schema ------------------------------------------------------------------------
    def _migrate(self) -> None:
        # Two nbctl processes may meet an empty database at once: the loser of the race
        # gets "already exists" or a unique violation, re-reads the version and moves on.
        for attempt in range(5):
            try:
                return self._migrate_once()
            except (OperationalError, IntegrityError, ProgrammingError):
                if attempt == 4:
                    raise
                time.sleep(0.05 * (attempt + 1))

    def _migrate_once(self) -> None:
        with self.engine.begin() as conn:
            if not self.engine.dialect.has_table(conn, "meta"):
                current = 0
            else:
                row = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).first()
                current = int(row[0]) if row else 0
            if current > SCHEMA_VERSION:
                from .errors import UserError
                raise UserError(f"the state store {self.url} has schema {current}, newer than this "
                                f"nbctl ({SCHEMA_VERSION}): upgrade nbctl")
            for version in range(current + 1, SCHEMA_VERSION + 1):
                MIGRATIONS[version](conn)
                self._set_meta(conn, "schema_version", str(version))

    @staticmethod
    def _set_meta(conn: Connection, key: str, value: str) -> None:
        if conn.execute(update(meta).where(meta.c.key == key).values(value=value)).rowcount == 0:
            conn.execute(insert(meta).values(key=key, value=value))

    def schema_version(self) -> int:
        with self.engine.connect() as conn:
            row = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).first()
            return int(row[0]) if row else 0

    # -- instances ---------------------------------------------------------------------
    def get(self, name: str) -> Record | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(instances).where(instances.c.name == name)).mappings().first()
        return _record(row) if row else None

    def all(self, provider: str | None = None) -> list[Record]:
        q = select(instances).order_by(instances.c.name)
        if provider:
            q = q.where(instances.c.provider == provider)
        with self.engine.connect() as conn:
            return [_record(r) for r in conn.execute(q).mappings()]

    def save(self, inst: Instance, spec: InstanceSpec | None = None) -> None:
        """Insert or update the instance; a state change is recorded in the history."""
        now = time.time()
        values = dict(provider=inst.provider, state=inst.state.value, backend=inst.backend,
                      native_id=inst.native_id, zone=inst.zone, gpu=inst.gpu,
                      gpu_count=inst.gpu_count, preemptible=inst.preemptible, url=inst.url,
                      detail=inst.detail, labels_json=json.dumps(inst.labels, sort_keys=True),
                      updated_at=now)
        if spec is not None:
            values.update(spec_json=json.dumps(spec.to_dict(), sort_keys=True),
                          spec_hash=spec.spec_hash())
        with self.engine.begin() as conn:
            old = conn.execute(select(instances.c.state).where(instances.c.name == inst.name)).first()
            if old is None:
                conn.execute(insert(instances).values(name=inst.name, created_at=now,
                                                      state_since=now, **values))
                # What `cost` needs to price it even after it is deleted; nothing secret.
                machine = json.dumps({"gpu": inst.gpu, "gpu_count": inst.gpu_count,
                                      "preemptible": inst.preemptible, "backend": inst.backend})
                self._event(conn, inst.name, inst.provider, "created", inst.state.value, machine)
            else:
                if old[0] != inst.state.value:
                    values["state_since"] = now
                    self._event(conn, inst.name, inst.provider, "state", inst.state.value, inst.detail)
                conn.execute(update(instances).where(instances.c.name == inst.name).values(**values))

    def remove(self, name: str, provider: str | None = None) -> None:
        with self.engine.begin() as conn:
            if conn.execute(delete(instances).where(instances.c.name == name)).rowcount:
                self._event(conn, name, provider, "deleted", State.DELETED.value, None)

    # -- schedules ---------------------------------------------------------------------
    def save_schedule(self, name: str, provider: str, schedule: Schedule, engine: str) -> None:
        values = dict(provider=provider, tz=schedule.tz, stop_cron=schedule.stop,
                      start_cron=schedule.start, engine=engine)
        with self.engine.begin() as conn:
            if not conn.execute(update(schedules).where(schedules.c.name == name)
                                .values(**values)).rowcount:
                conn.execute(insert(schedules).values(name=name, created_at=time.time(), **values))

    def get_schedule(self, name: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(schedules).where(schedules.c.name == name)).mappings().first()
        return dict(row) if row else None

    def all_schedules(self, engine: str | None = None) -> list[dict]:
        q = select(schedules).order_by(schedules.c.name)
        if engine:
            q = q.where(schedules.c.engine == engine)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    def remove_schedule(self, name: str) -> bool:
        with self.engine.begin() as conn:
            return bool(conn.execute(delete(schedules).where(schedules.c.name == name)).rowcount)

    # -- history -----------------------------------------------------------------------
    def record_event(self, name: str, kind: str, *, provider: str | None = None,
                     state: State | None = None, detail: str | None = None) -> None:
        with self.engine.begin() as conn:
            self._event(conn, name, provider, kind, state.value if state else None, detail)

    @staticmethod
    def _event(conn: Connection, name: str, provider: str | None, kind: str,
               state: str | None, detail: str | None) -> None:
        conn.execute(insert(events).values(at=time.time(), name=name, provider=provider,
                                           kind=kind, state=state, detail=detail))

    def events(self, name: str | None = None, since: float = 0.0) -> list[dict]:
        q = select(events).where(events.c.at >= since).order_by(events.c.at, events.c.id)
        if name:
            q = q.where(events.c.name == name)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    # -- locks -------------------------------------------------------------------------
    @contextmanager
    def lock(self, key: str, ttl: float = 1800.0, what: str = "") -> Iterator[None]:
        """Hold a named lock across processes (and hosts, on a shared database).

        Raises BusyError at once if a live holder has it; a holder whose process is gone, or
        whose lease expired, is taken over."""
        holder = _holder()
        self._acquire(key, holder, ttl, what)
        try:
            yield
        finally:
            with self.engine.begin() as conn:
                conn.execute(delete(locks).where(locks.c.key == key, locks.c.holder == holder))

    def _acquire(self, key: str, holder: str, ttl: float, what: str) -> None:
        for _ in range(3):
            now = time.time()
            try:
                with self.engine.begin() as conn:
                    conn.execute(insert(locks).values(key=key, holder=holder, acquired_at=now,
                                                      expires_at=now + ttl))
                return
            except IntegrityError:
                with self.engine.begin() as conn:
                    row = conn.execute(select(locks).where(locks.c.key == key)).mappings().first()
                    if row is None:
                        continue
                    if row["expires_at"] > now and _holder_alive(row["holder"]):
                        pid = row["holder"].rsplit(":", 1)[-1]
                        raise BusyError(f"{what or key} is in progress in another nbctl process "
                                        f"(pid {pid}); wait for it to finish, then run "
                                        f"`nbctl status`")
                    conn.execute(delete(locks).where(locks.c.key == key,
                                                     locks.c.holder == row["holder"]))
        raise BusyError(f"could not take the lock for {what or key}; try again")


def _holder_alive(holder: str) -> bool:
    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname():
        return True  # another host: trust the lease's expiry
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True


def _record(row) -> Record:
    spec = InstanceSpec.from_dict(json.loads(row["spec_json"])) if row["spec_json"] else None
    inst = Instance(name=row["name"], provider=row["provider"], state=State(row["state"]),
                    native_id=row["native_id"], zone=row["zone"], gpu=row["gpu"],
                    gpu_count=row["gpu_count"] or 0, preemptible=bool(row["preemptible"]),
                    backend=row["backend"], url=row["url"], detail=row["detail"],
                    labels=json.loads(row["labels_json"] or "{}"))
    return Record(inst, spec, row["created_at"], row["updated_at"], row["state_since"])
