"""What reading the store needs, without SQLAlchemy: where it is, its schema version, and how
an `instances` row becomes a Record (SQLAlchemy's rows and sqlite3's rows read alike)."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

from ..model import Instance, InstanceSpec, State

SCHEMA_VERSION = 2


def default_url() -> str:
    """NBCTL_STATE_URL, else the SQLite file under nbctl's data dir."""
    url = os.environ.get("NBCTL_STATE_URL")
    if url:
        return url
    from ..config import data_dir
    return f"sqlite:///{data_dir() / 'state.db'}"


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


def columns(inst: Instance) -> dict:
    """The columns that hold what the cloud says of an instance (no bookkeeping times)."""
    return dict(provider=inst.provider, state=inst.state.value, backend=inst.backend,
                native_id=inst.native_id, zone=inst.zone, gpu=inst.gpu,
                gpu_count=inst.gpu_count or 0, preemptible=bool(inst.preemptible),
                url=inst.url, detail=inst.detail,
                labels_json=json.dumps(inst.labels, sort_keys=True))


def changed(seen: list[tuple[Record | None, Instance]]) -> list[tuple[Record | None, Instance]]:
    """The (record as read, instance as the cloud shows it) pairs that differ: a name new to
    the store (record None), or some column of what the cloud says."""
    return [(rec, inst) for rec, inst in seen
            if rec is None or columns(rec.instance) != columns(inst)]


def record_of(row) -> Record:
    """The Record of one `instances` row (any mapping of its columns)."""
    spec = InstanceSpec.from_dict(json.loads(row["spec_json"])) if row["spec_json"] else None
    inst = Instance(name=row["name"], provider=row["provider"], state=State(row["state"]),
                    native_id=row["native_id"], zone=row["zone"], gpu=row["gpu"],
                    gpu_count=row["gpu_count"] or 0, preemptible=bool(row["preemptible"]),
                    backend=row["backend"], url=row["url"], detail=row["detail"],
                    labels=json.loads(row["labels_json"] or "{}"))
    return Record(inst, spec, row["created_at"], row["updated_at"], row["state_since"])
