"""The provider contract: small explicit verbs, capability flags, normalized state.

A provider is one class in one package under providers/; that package is the only place its
cloud SDK is imported, and it imports it lazily (inside methods or a client module), so that
loading the class for its name rules, capabilities or offers costs nothing.

Every verb is idempotent and returns quickly. Waiting is the core's job: lifecycle polls
`get` until the state it wants.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, ClassVar

from . import log
from .errors import CapabilityError, UserError

if TYPE_CHECKING:  # pragma: no cover
    from .jobs import JobSpec
    from .spec import InstanceSpec, Schedule

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
    SPOT = "spot"
    STOP_START = "stop-start"
    NATIVE_IDLE_SHUTDOWN = "native-idle-shutdown"
    NATIVE_SCHEDULE = "native-schedule"
    PREEMPTION_NOTICE = "preemption-notice"
    NOTEBOOK_URL = "notebook-url"
    GPU = "gpu"
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

    def to_dict(self) -> dict:
        d = asdict(self)
        d["state"] = self.state.value
        d["created_at"] = self.created_at.isoformat() if self.created_at else None
        return d


@dataclass(frozen=True)
class Preemption:
    """One preemption from the cloud's own record."""

    name: str
    native_id: str | None
    zone: str | None
    at: datetime
    source: str  # which record said so, e.g. "compute.instances.preempted"


class Provider:
    """Base class of every provider. Subclasses set the class attributes and the verbs.

    Constructed with the provider's section of the user's config (a dict) and the owner name.
    Construction must not reach the network or import the SDK.
    """

    name: ClassVar[str] = ""
    extra: ClassVar[str | None] = None  # pip extra that installs the SDK, e.g. "gcp"
    sdk_modules: ClassVar[tuple[str, ...]] = ()  # modules that extra provides
    capabilities: ClassVar[frozenset[Capability]] = frozenset()
    # For each capability NOT supported: the sentence the user sees.
    unsupported: ClassVar[dict[Capability, str]] = {}
    # Instance names: a regex that must fullmatch, and its rule in words.
    name_pattern: ClassVar[str] = r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?"
    name_rule: ClassVar[str] = (
        "1-63 characters: lowercase letters, digits and hyphens, starting with a letter "
        "and not ending with a hyphen"
    )
    # Seconds between `get` calls while the core waits (NBCTL_POLL_INTERVAL overrides).
    poll_interval: ClassVar[float] = 5.0
    # Jobs run where this computer's files are (the local provider): --workdir is used in
    # place instead of being carried to the machine as an archive.
    shares_filesystem: ClassVar[bool] = False

    def __init__(self, config: dict | None = None, owner: str = "nbctl"):
        self.config = dict(config or {})
        self.owner = owner

    @property
    def warnings(self) -> list[str]:
        """Notes for the user from the verbs run so far (a timeout rounded to what the cloud
        can do, say). The CLI shows them; they must not hold secrets."""
        return list(self.__dict__.get("_notes", ()))

    def note(self, text: str) -> None:
        """Add a note to `warnings` (and nbctl's log)."""
        log.get().info("%s", text)
        self.__dict__.setdefault("_notes", []).append(text)

    # -- checks the core runs before any verb --------------------------------------------
    def supports(self, cap: Capability) -> bool:
        return cap in self.capabilities

    def require(self, cap: Capability) -> None:
        """Raise CapabilityError with the provider's own sentence if cap is unsupported."""
        if cap not in self.capabilities:
            msg = self.unsupported.get(cap) or f"the {self.name} provider does not support {cap.value}"
            raise CapabilityError(msg)

    def validate_name(self, name: str) -> None:
        if not isinstance(name, str) or not re.fullmatch(self.name_pattern, name):
            raise UserError(f"invalid instance name {name!r} for {self.name}: use {self.name_rule}")

    def validate_spec(self, spec: "InstanceSpec") -> None:
        """Provider-specific checks on a spec; raise UserError/CapabilityError. No network."""

    def check_zones_in_region(self, spec: "InstanceSpec") -> None:
        """With both --region and --zone, every zone must lie in that region."""
        if spec.region:
            bad = [z for z in spec.zones if self.region_of(z) != spec.region]
            if bad:
                raise UserError(f"zone {bad[0]} is not in region {spec.region}: drop --region "
                                f"or list zones of {spec.region}")

    def candidate_zones(self, spec: "InstanceSpec") -> list[str | None]:
        """Where `up` may place this spec, in the order to try: the user's --zone list, else
        the zones of --region (or of the configured default). The core moves to the next
        one on CapacityError; [None] means the provider has no zones."""
        return list(spec.zones) or [None]

    def region_of(self, zone: str | None) -> str | None:
        """The region a zone belongs to, for failover that skips a whole region."""
        return zone

    # -- the verbs -----------------------------------------------------------------------
    def offers(self, gpu: str, count: int, spot: bool) -> list[Offer]:
        """What this provider can run for a canonical GPU, cheapest first. No network."""
        from .catalog import load_catalog

        return load_catalog().offers(provider=self.name, gpu=gpu, count=count, spot=spot)

    def create(self, spec: "InstanceSpec") -> Instance:
        """Create the instance and return as soon as the cloud accepted it.

        If an instance with this name already exists, return it unchanged. Raises
        CapacityError (with scope) when the cloud has no capacity where asked; in that
        case nothing may be left behind."""
        raise NotImplementedError

    def get(self, name: str) -> Instance | None:
        """The instance as the cloud sees it now, or None if it does not exist."""
        raise NotImplementedError

    def list(self, labels: dict[str, str] | None = None) -> list[Instance]:
        """Every instance nbctl made that carries these labels: one call per zone/region."""
        raise NotImplementedError

    def stop(self, name: str) -> None:
        """Ask the cloud to stop it, keeping its disk. Return at once; stopped ones: no-op."""
        self.require(Capability.STOP_START)
        raise NotImplementedError

    def start(self, name: str) -> None:
        """Ask the cloud to start a stopped instance. Return at once; running ones: no-op."""
        self.require(Capability.STOP_START)
        raise NotImplementedError

    def delete(self, name: str) -> None:
        """Delete the instance and what nbctl made for it. If it does not exist, return silently."""
        raise NotImplementedError

    def set_idle_shutdown(self, name: str, timeout_seconds: int | None) -> None:
        """Stop the instance after this long idle (None turns it off)."""
        self.require(Capability.NATIVE_IDLE_SHUTDOWN)
        raise NotImplementedError

    def set_schedule(self, name: str, schedule: "Schedule") -> None:
        """Install the schedule in the cloud's own scheduler."""
        self.require(Capability.NATIVE_SCHEDULE)
        raise NotImplementedError

    def clear_schedule(self, name: str) -> None:
        """Remove the native schedule. If there is none, return silently."""
        self.require(Capability.NATIVE_SCHEDULE)
        raise NotImplementedError

    def preemptions(self, since: datetime) -> list[Preemption]:
        """Instances the cloud preempted since then, from the cloud's own record."""
        return []

    def validate_job(self, spec: "InstanceSpec") -> None:
        """Can jobs run on a machine of this spec? Raise CapabilityError before anything is
        created if not. No network."""
        self.require(Capability.JOBS)

    def run_job(self, name: str, job: "JobSpec", restart: int) -> None:
        """Start attempt `restart` of the job on the running instance, through
        `python -m nbctl_cloud.runtime.jobwrap` (which reports to job.status_url). Return at once.
        Starting the same run_id and restart twice must not run it twice."""
        self.require(Capability.JOBS)
        raise NotImplementedError

    def cancel_job(self, name: str, run_id: str) -> None:
        """Stop the job's command on the instance. If it is not running, return silently."""
        self.require(Capability.JOBS)
        raise NotImplementedError

    def notebook_url(self, name: str) -> str:
        """How a person opens the notebook (may include a token: never store or log it)."""
        self.require(Capability.NOTEBOOK_URL)
        raise NotImplementedError

    def close(self) -> None:
        """Release clients and connections."""


def describe_capabilities(provider: type[Provider] | Provider) -> list[dict]:
    """Rows for `nbctl providers`-style listings: each capability and why not."""
    rows = []
    for cap in Capability:
        ok = cap in provider.capabilities
        rows.append({"capability": cap.value, "supported": ok,
                     "note": "" if ok else provider.unsupported.get(cap, "")})
    return rows


def match_labels(have: dict[str, str], want: dict[str, str] | None) -> bool:
    return all(have.get(k) == v for k, v in (want or {}).items())

