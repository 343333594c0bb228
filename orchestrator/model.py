"""nbctl's value types: what every layer speaks. The leaf of the core: imports nothing of nbctl.

State, Capability, Offer, Instance, Preemption (what providers answer); Schedule, InstanceSpec,
JobSpec, JobState (what users ask for); and the names of the labels nbctl puts on what it makes.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from enum import Enum

# The labels (tags) the core stamps on every instance it creates; `list` finds them by these.
LABEL_NAME = "nbctl-name"
LABEL_OWNER = "nbctl-owner"
LABEL_SPEC_HASH = "nbctl-spec-hash"


class State(str, Enum):
    PENDING = "PENDING"
    PROVISIONING = "PROVISIONING"
    RUNNING = "RUNNING"
    STOPPING = "STOPPING"
    STOPPED = "STOPPED"
    PREEMPTED = "PREEMPTED"
    DELETING = "DELETING"
    DELETED = "DELETED"
    FAILED = "FAILED"

    @property
    def settled(self) -> bool:
        """True for states that do not change without someone acting."""
        return self in _SETTLED


_SETTLED = {State.RUNNING, State.STOPPED, State.PREEMPTED, State.DELETED, State.FAILED}


class Capability(str, Enum):
    """What a provider may be able to do beyond the core verbs; see nbctl_cloud.provider."""

    SPOT = "spot"
    STOP_START = "stop-start"
    NATIVE_IDLE_SHUTDOWN = "native-idle-shutdown"
    NATIVE_SCHEDULE = "native-schedule"
    PREEMPTION_RECORD = "preemption-record"
    NOTEBOOK_URL = "notebook-url"
    JOBS = "jobs"


@dataclass(frozen=True)
class Offer:
    """What one provider runs for a canonical GPU, with its list prices (USD per hour)."""

    provider: str
    gpu: str
    count: int
    instance_type: str
    gpu_memory_gb: int
    on_demand_hourly: float | None
    spot_hourly: float | None
    price_date: str
    source: str
    accelerator: str | None = None
    backend: str | None = None
    regions: tuple[str, ...] = ()

    def hourly(self, spot: bool) -> float | None:
        return self.spot_hourly if spot else self.on_demand_hourly

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Instance:
    """A provider's answer about one instance, normalized."""

    name: str
    provider: str
    state: State
    native_id: str | None = None
    zone: str | None = None
    gpu: str | None = None
    gpu_count: int = 0
    preemptible: bool = False
    backend: str | None = None
    url: str | None = None  # never carries a token or other secret
    labels: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None
    detail: str | None = None  # the cloud's own words about the state, if any
    booted_at: datetime | None = None  # when it last started, where the cloud says so

    def to_dict(self) -> dict:
        d = dict(vars(self), state=self.state.value, labels=dict(self.labels))  # all plain
        for key in ("created_at", "booted_at"):
            d[key] = d[key].isoformat() if d[key] else None
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Instance":
        """The Instance that to_dict() wrote."""
        d = dict(d, state=State(d["state"]), labels=dict(d.get("labels") or {}))
        for key in ("created_at", "booted_at"):
            d[key] = datetime.fromisoformat(d[key]) if d.get(key) else None
        return cls(**d)


@dataclass(frozen=True)
class Preemption:
    """One preemption from the cloud's own record."""

    name: str
    native_id: str | None
    zone: str | None
    at: datetime
    source: str  # which record said so, e.g. "compute.instances.preempted"


@dataclass(frozen=True)
class Schedule:
    """5-field cron for stop and/or start, in an IANA time zone."""

    tz: str
    stop: str | None = None
    start: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class InstanceSpec:
    """A validated request for one notebook machine."""

    name: str
    provider: str
    gpu: str = "none"
    gpu_count: int = 0
    preemptible: bool = False
    region: str | None = None
    zones: tuple[str, ...] = ()
    image: str | None = None
    disk_gb: int | None = None
    idle_timeout: int | None = None  # seconds
    schedule: Schedule | None = None
    owner: str = "nbctl"
    labels: dict[str, str] = field(default_factory=dict)

    def with_zone(self, zone: str) -> "InstanceSpec":
        return replace(self, zones=(zone,))

    @property
    def zone(self) -> str | None:
        return self.zones[0] if self.zones else None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["zones"] = list(self.zones)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "InstanceSpec":
        d = dict(d)
        d["zones"] = tuple(d.get("zones") or ())
        if d.get("schedule"):
            d["schedule"] = Schedule(**d["schedule"])
        return cls(**d)

    def spec_hash(self) -> str:
        """Hash of what defines the machine (not of mutable policies such as schedules)."""
        core = {k: self.to_dict()[k] for k in
                ("name", "provider", "gpu", "gpu_count", "preemptible", "image", "disk_gb")}
        blob = json.dumps(core, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]

    def nbctl_labels(self) -> dict[str, str]:
        """The labels the core stamps on the instance made for this spec."""
        return {LABEL_NAME: self.name, LABEL_OWNER: self.owner, LABEL_SPEC_HASH: self.spec_hash()}

    def stamped(self) -> "InstanceSpec":
        """This spec with nbctl's labels in `labels` (what a provider's `create` receives)."""
        return replace(self, labels={**self.labels, **self.nbctl_labels()})


class JobState(str, Enum):
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    RECOVERING = "RECOVERING"
    WAITING = "WAITING"  # for what the cloud must give first (a quota that refreshes)
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def final(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


@dataclass
class JobSpec:
    """A command to run on an nbctl machine until it completes, through preemptions."""

    run_id: str
    instance: InstanceSpec
    command: list[str]
    checkpoint_url: str
    max_restarts: int = 3
    restart_on_failure: bool = False
    workdir: str | None = None
    git_url: str | None = None
    workdir_url: str | None = None  # the workdir's archive, for machines that do not share it
    runtime_url: str | None = None  # nbctl's machine runtime, carried in the job's storage
    runtime_sha256: str | None = None  # what the machine checks it against before running it

    @property
    def status_url(self) -> str:
        return f"{self.checkpoint_url.rstrip('/')}/_nbctl/{self.run_id}"

    def to_json(self) -> str:
        d = asdict(self)
        d["instance"] = self.instance.to_dict()
        return json.dumps(d, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "JobSpec":
        d = json.loads(text)
        d["instance"] = InstanceSpec.from_dict(d["instance"])
        return cls(**d)


@dataclass
class Job:
    """A stored job: its spec and where it stands."""

    spec: JobSpec
    state: JobState
    restarts: int
    preemptions: int
    exit_code: int | None
    detail: str | None
    created_at: float
    updated_at: float
    started_at: float | None

    def to_dict(self) -> dict:
        return {"run_id": self.spec.run_id, "instance": self.spec.instance.name,
                "provider": self.spec.instance.provider, "state": self.state.value,
                "restarts": self.restarts, "preemptions": self.preemptions,
                "exit_code": self.exit_code, "detail": self.detail,
                "command": self.spec.command, "checkpoint_url": self.spec.checkpoint_url,
                "created_at": self.created_at, "updated_at": self.updated_at}
