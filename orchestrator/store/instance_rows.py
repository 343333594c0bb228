"""The last known state of each instance nbctl knows of (the `instances` table).

The cloud is the truth; these rows are a cache of what it said last, plus the spec each machine
was made with. Every state change is also appended to the history.
"""
from __future__ import annotations

import json
import time

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from ..model import Instance, InstanceSpec, State
from .base import Record, changed, columns, record_of
from .history import add_event
from .schema import instances


class InstanceRows:
    """Store verbs over the `instances` table."""

    engine: Engine

    def get(self, name: str) -> Record | None:
        """The stored instance called `name`, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(select(instances).where(instances.c.name == name)).mappings().first()
        return record_of(row) if row else None

    def all(self, provider: str | None = None) -> list[Record]:
        """Every stored instance (of `provider` only, if given), by name."""
        q = select(instances).order_by(instances.c.name)
        if provider:
            q = q.where(instances.c.provider == provider)
        with self.engine.connect() as conn:
            return [record_of(r) for r in conn.execute(q).mappings()]

    def states(self) -> dict[str, dict[str, State]]:
        """provider -> {name: state} of every stored instance: one light query, no decoding."""
        out: dict[str, dict[str, State]] = {}
        with self.engine.connect() as conn:
            for name, provider, state in conn.execute(
                    select(instances.c.name, instances.c.provider, instances.c.state)):
                out.setdefault(provider, {})[name] = State(state)
        return out

    def save(self, inst: Instance, spec: InstanceSpec | None = None) -> None:
        """Insert or update the instance; a state change is recorded in the history."""
        now = time.time()
        values = {**columns(inst), "updated_at": now}
        if spec is not None:
            values.update(spec_json=json.dumps(spec.to_dict(), sort_keys=True),
                          spec_hash=spec.spec_hash())
        with self.engine.begin() as conn:
            old = conn.execute(select(instances.c.state)
                               .where(instances.c.name == inst.name)).first()
            if old is None:
                conn.execute(insert(instances).values(name=inst.name, created_at=now,
                                                      state_since=now, **values))
                _created(conn, inst)
            else:
                if old[0] != inst.state.value:
                    values["state_since"] = now
                    add_event(conn, inst.name, inst.provider, "state", inst.state.value,
                              inst.detail)
                conn.execute(update(instances).where(instances.c.name == inst.name)
                             .values(**values))

    def reconcile(self, seen: list[tuple[Record | None, Instance]]) -> int:
        """Write what the clouds said, in one transaction: each (record as read, instance as
        the cloud shows it now; record None for a name new to the store) whose instance differs
        from its record. Returns how many rows were written: none when nothing changed, and
        then no transaction is opened at all.

        Compare-and-set, as every claim in this store: a row is updated only while its
        updated_at is still the one read, so a row another process wrote meanwhile (an `up`,
        a `stop` with a fresher answer) keeps that; a new name another process inserted
        meanwhile is left to it. A state change is recorded in the history, as by `save`."""
        differing = changed(seen)
        if not differing:
            return 0
        now = time.time()
        written = 0
        with self.engine.begin() as conn:
            for rec, inst in differing:
                values = {**columns(inst), "updated_at": now}
                if rec is None:
                    if _insert_new(conn, dict(name=inst.name, created_at=now, state_since=now,
                                              **values)):
                        _created(conn, inst)
                        written += 1
                    continue
                moved = rec.instance.state is not inst.state
                if moved:
                    values["state_since"] = now
                res = conn.execute(update(instances).where(
                    instances.c.name == inst.name,
                    instances.c.updated_at == rec.updated_at).values(**values))
                if res.rowcount == 1:
                    written += 1
                    if moved:
                        add_event(conn, inst.name, inst.provider, "state", inst.state.value,
                                  inst.detail)
        return written

    def remove(self, name: str, provider: str | None = None) -> None:
        """Forget the instance, recording its deletion; a missing one is left quietly."""
        with self.engine.begin() as conn:
            if conn.execute(delete(instances).where(instances.c.name == name)).rowcount:
                add_event(conn, name, provider, "deleted", State.DELETED.value, None)


def _created(conn: Connection, inst: Instance) -> None:
    # What `cost` needs to price it even after it is deleted; nothing secret.
    machine = json.dumps({"gpu": inst.gpu, "gpu_count": inst.gpu_count,
                          "preemptible": inst.preemptible, "backend": inst.backend})
    add_event(conn, inst.name, inst.provider, "created", inst.state.value, machine)


def _insert_new(conn: Connection, row: dict) -> bool:
    """Insert the row unless its name exists (another process got there first): True if
    inserted. One statement on SQLite and PostgreSQL (whether RETURNING gives the name back
    says if it was inserted: psycopg reports no rowcount for it); a savepoint elsewhere."""
    dialect = conn.dialect.name
    if dialect in ("sqlite", "postgresql"):
        from importlib import import_module
        stmt = import_module(f"sqlalchemy.dialects.{dialect}").insert(instances)
        return conn.execute(stmt.values(**row).on_conflict_do_nothing(
            index_elements=[instances.c.name]).returning(instances.c.name)).first() is not None
    try:
        with conn.begin_nested():
            conn.execute(insert(instances).values(**row))
        return True
    except IntegrityError:
        return False
