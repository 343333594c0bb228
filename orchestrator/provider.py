"""The provider contract: a small abstract core and capabilities whose presence is the ability.

A provider is one class in one package; that package is the only place its cloud SDK is
imported, and it imports it lazily (inside methods or a client module), so that loading the
class for its name rules, capabilities or offers costs nothing.

The core (every provider): `offers`, `create`, `get`, `list`, `delete`. Each capability is a
mixin below (StopStart, NativeIdleShutdown, NativeSchedule, Jobs, NotebookUrl, Spot,
PreemptionRecord): a provider has a capability exactly when its class inherits the mixin, and
then it must define the mixin's verbs, or the registry refuses it when it is loaded
(`contract_problems`). A provider with several backends says per spec what a spec's backend
cannot do (`unsupported`), in the user's words; the core asks before it acts.

Every verb is idempotent and returns quickly; waiting is the core's job (lifecycle polls
`get`). The core stamps nbctl's labels on the spec and checks that the name is free before it
calls `create`.
"""
from __future__ import annotations

import re
from abc import ABC, abstractmethod
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from . import log
from .errors import CapabilityError, NbctlError, UserError
from .model import (
    Capability,
    Instance,
    InstanceSpec,
    JobSpec,
    Offer,
    Preemption,
    Schedule,
)

if TYPE_CHECKING:
    from .tunnel import SshRoute


class CapabilityMixin(ABC):
    """Base of the capability mixins: `capability` names it, `verbs` are what it promises."""

    capability: ClassVar[Capability]
    verbs: ClassVar[tuple[str, ...]] = ()


class Provider(ABC):
    """Base class of every provider.

    Constructed with the provider's section of the user's config (a dict) and the owner name.
    Construction must not reach the network or import the SDK.
    """

    name: ClassVar[str] = ""
    extra: ClassVar[str | None] = None  # the extra of nbctl that installs the SDK, e.g. "gcp"
    sdk_modules: ClassVar[tuple[str, ...]] = ()  # modules that extra provides
    needs_gpu: ClassVar[bool] = True  # False: a machine without --gpu is fine (local, CPU clouds)
    # For capabilities the provider lacks, or that only some of its backends have: the
    # sentence the user sees.
    reasons: ClassVar[dict[Capability, str]] = {}
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
    # The cloud restarts a preempted machine itself once it has capacity again, and refuses a
    # user start of it (EC2's interrupted spot instances): the core waits for that restart.
    restarts_preempted: ClassVar[bool] = False
    # With restarts_preempted: how long the core waits for that restart under a job before it
    # replaces the machine with a new one (seconds; a provider may read it from its settings).
    restart_wait: float = 120.0
    # A provider that makes no machines of nbctl's, only runs jobs in the cloud's own hosted
    # sessions (Kaggle's kernels, see HostedJobs): the sentence `nbctl up` is refused with.
    no_machines: ClassVar[str | None] = None
    # Filled in for each subclass from the mixins it inherits.
    capabilities: ClassVar[frozenset[Capability]] = frozenset()

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        cls.capabilities = frozenset(c.capability for c in cls.__mro__
                                     if issubclass(c, CapabilityMixin) and "capability" in vars(c))

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

    def failure(self, inst: Instance) -> NbctlError | None:
        """Why a FAILED instance failed, as nbctl's error (a CapacityError moves `up` on to the
        next allowed zone or region), or None for a plain failure. No network."""
        return None

    # -- what it can do ------------------------------------------------------------------
    def unsupported(self, spec: InstanceSpec) -> dict[Capability, str]:
        """Capabilities this provider has but a machine of this spec lacks (its backend
        cannot), each with the sentence the user sees. No network."""
        return {}

    def supports(self, cap: Capability, spec: InstanceSpec | None = None) -> bool:
        return cap in self.capabilities and (spec is None or cap not in self.unsupported(spec))

    def require(self, cap: Capability, spec: InstanceSpec | None = None) -> None:
        """Raise CapabilityError with the provider's own sentence if it cannot do `cap` (for a
        machine of `spec`, when given)."""
        if cap not in self.capabilities:
            raise CapabilityError(self.reasons.get(cap)
                                  or f"the {self.name} provider does not support {cap.value}")
        why = self.unsupported(spec).get(cap) if spec is not None else None
        if why:
            raise CapabilityError(why)

    # -- checks the core runs before any verb (no network) -------------------------------
    def validate_name(self, name: str) -> None:
        if not isinstance(name, str) or not re.fullmatch(self.name_pattern, name):
            raise UserError(f"invalid instance name {name!r} for {self.name}: use {self.name_rule}")

    def validate_spec(self, spec: InstanceSpec) -> None:
        """Provider-specific checks on a spec; raise UserError/CapabilityError. No network."""

    def check_zones_in_region(self, spec: InstanceSpec) -> None:
        """With both --region and --zone, every zone must lie in that region."""
        if spec.region:
            bad = [z for z in spec.zones if self.region_of(z) != spec.region]
            if bad:
                raise UserError(f"zone {bad[0]} is not in region {spec.region}: drop --region "
                                f"or list zones of {spec.region}")

    def candidate_zones(self, spec: InstanceSpec) -> list[str | None]:
        """Where `up` may place this spec, in the order to try: the user's --zone list, else
        the zones of --region (or of the configured default). The core moves to the next
        one on CapacityError; [None] means the provider has no zones."""
        return list(spec.zones) or [None]

    def region_of(self, zone: str | None) -> str | None:
        """The region a zone belongs to, for failover that skips a whole region."""
        return zone

    def catalog_offers(self, gpu: str | None = None, count: int | None = None,
                       spot: bool = False, backend: str | None = None) -> list[Offer]:
        """This provider's rows of nbctl's GPU catalog (configs/gpus.toml), cheapest first."""
        from .catalog import load_catalog
        return load_catalog().offers(provider=self.name, gpu=gpu, count=count, spot=spot,
                                     backend=backend)

    # -- the core verbs --------------------------------------------------------------------
    @abstractmethod
    def offers(self, gpu: str | None = None, count: int | None = None,
               spot: bool = False) -> list[Offer]:
        """What this provider runs, cheapest first: for one canonical GPU (and count) when
        given, only spot offers (priced as spot) with spot=True. No network, so that `gpus`,
        `cost` and `up --dry-run` stay fast and offline."""

    @abstractmethod
    def create(self, spec: InstanceSpec) -> Instance:
        """Create the instance and return as soon as the cloud accepted it.

        The core has checked that no instance of this name exists and put nbctl's labels in
        `spec.labels`: put them all on the machine, where `list` and `get` read them back.
        A retried create of the same spec must not make a second machine (use the API's
        idempotency key where it has one). Raise CapacityError (with its scope) when the
        cloud has no capacity where asked; then nothing may be left behind."""

    @abstractmethod
    def get(self, name: str) -> Instance | None:
        """The instance as the cloud sees it now, with its labels, or None if it does not
        exist. Return as soon as possible."""

    @abstractmethod
    def list(self, labels: dict[str, str] | None = None) -> list[Instance]:
        """Every instance nbctl made that carries all these labels: one call per
        zone/region/location (more only for further pages), never one per instance; places
        and backends may be asked at once (threads).

        `status --refresh` runs it in a child process (nbctl_cloud.fleet): the provider is
        rebuilt there as `type(self)(self.config, owner=self.owner)`, so construction must
        take everything from those two and the environment; what it returns goes back as
        `Instance.to_dict()` in JSON, so an Instance holds plain values only (str, int,
        bool, datetime, a dict of str), never an SDK object."""

    @abstractmethod
    def delete(self, name: str) -> None:
        """Delete the instance and what nbctl made for it. If it does not exist, return
        silently. Return once the cloud accepted the request."""

    def job_storage(self) -> str | None:
        """Where a job's own files go when `nbctl run` is given no --checkpoint-url (a cloud
        whose sessions carry the checkpoints themselves, such as Kaggle's), or None: then
        --checkpoint-url is required."""
        return None

    def idle_seconds(self, name: str) -> float | None:
        """How long the notebook has had no activity, as its own server says, where nbctl can
        ask it from this computer (the local Jupyter); None where it cannot (a cloud machine's
        idleness is known to nbctl's agent on it, which acts on it there)."""
        return None

    def quota(self) -> list[dict] | None:
        """The accelerator quota the cloud reports for the user (Kaggle's weekly GPU and TPU
        hours: used, reserved, allowed, left, when it refreshes), or None if it reports none."""
        return None

    def close(self) -> None:
        """Release clients and connections."""


class StopStart(CapabilityMixin):
    """Machines that stop (keeping their disk) and start again."""

    capability = Capability.STOP_START
    verbs = ("stop", "start")

    @abstractmethod
    def stop(self, name: str) -> None:
        """Ask the cloud to stop it, keeping its disk. Return at once; stopped ones: no-op."""

    @abstractmethod
    def start(self, name: str) -> None:
        """Ask the cloud to start a stopped instance. Return at once; running ones: no-op."""


class NativeIdleShutdown(CapabilityMixin):
    """The machine stops itself after an idle timeout (the cloud's feature or nbctl's agent)."""

    capability = Capability.NATIVE_IDLE_SHUTDOWN
    verbs = ("set_idle_shutdown",)

    @abstractmethod
    def set_idle_shutdown(self, name: str, timeout_seconds: int | None) -> None:
        """Stop the instance after this long idle (None turns it off)."""


class NativeSchedule(CapabilityMixin):
    """The cloud's own scheduler runs cron stops and starts (they work with the laptop off)."""

    capability = Capability.NATIVE_SCHEDULE
    verbs = ("set_schedule", "clear_schedule")

    @abstractmethod
    def set_schedule(self, name: str, schedule: Schedule) -> None:
        """Install the schedule in the cloud's own scheduler, replacing any other."""

    @abstractmethod
    def clear_schedule(self, name: str) -> None:
        """Remove the native schedule. If there is none, return silently."""


class Jobs(CapabilityMixin):
    """Training jobs (`nbctl run`) that the core restarts after a preemption."""

    capability = Capability.JOBS
    verbs = ("run_job", "cancel_job")

    @abstractmethod
    def run_job(self, name: str, job: JobSpec, restart: int) -> None:
        """Start attempt `restart` of the job on the running instance, through
        `python -m nbctl_cloud.runtime.jobwrap` (which reports to job.status_url). Return at
        once. Starting the same run_id and restart twice must not run it twice."""

    @abstractmethod
    def cancel_job(self, name: str, job: JobSpec) -> None:
        """Stop the job's command on the instance. If it is not running, return silently."""

    def check_job(self, job: JobSpec) -> None:
        """UserError when this job cannot run here, found before any machine is made (no
        network). Nothing to check, by default."""


class HostedJobs(CapabilityMixin):
    """Jobs whose attempts the cloud runs in sessions of its own, on no machine of nbctl's
    (Kaggle's kernel versions). The core starts each attempt, reads how it stands from the
    cloud, and starts the next one when a session ended on its limit or a notice, until the
    command has finished (see nbctl_cloud.hosted_jobs)."""

    capability = Capability.JOBS
    verbs = ("start_attempt", "attempt_status", "attempt_log", "cancel_job")

    @abstractmethod
    def start_attempt(self, job: JobSpec, restart: int) -> str | None:
        """Start attempt `restart` and return None, or return why it cannot start yet (a
        quota that refreshes later: the core waits and asks again). Return at once. Starting
        the same run_id and restart twice must not run it twice."""

    @abstractmethod
    def attempt_status(self, job: JobSpec, restart: int) -> dict | None:
        """The attempt in jobwrap's status shape ({"state": "running"|"exited", "exit_code",
        "signal", "started_at", "ended_at", "detail"}) plus "session_limit": True when nbctl's
        runtime stopped it ahead of the session's limit, or None while it has not started."""

    @abstractmethod
    def attempt_log(self, job: JobSpec, restart: int) -> str | None:
        """The attempt's output as text, or None before it has any."""

    @abstractmethod
    def cancel_job(self, name: str, job: JobSpec) -> None:
        """Stop the job's current attempt. If it is not running, return silently."""

    def check_job(self, job: JobSpec) -> None:
        """UserError when this job cannot run here (no network)."""

    def job_summary(self, job: JobSpec, restarts: int) -> dict:
        """What the cloud adds to `jobs status` (versions, time spent ...). No verb waits."""
        return {}


class NotebookUrl(CapabilityMixin):
    """A notebook a person opens in a browser (`nbctl open`)."""

    capability = Capability.NOTEBOOK_URL
    verbs = ("notebook_url",)

    @abstractmethod
    def notebook_url(self, name: str) -> "str | SshRoute":
        """How a person opens the notebook: a URL (may include a token: never store or log
        it), or, for a VM whose Jupyter listens on its loopback, the SshRoute `nbctl open`
        tunnels through (see nbctl_cloud.tunnel)."""


class Spot(CapabilityMixin):
    """Preemptible (spot) machines, chosen with --preemptible; `offers(spot=True)` lists them."""

    capability = Capability.SPOT


class PreemptionRecord(CapabilityMixin):
    """The cloud keeps its own record of preemptions, which the core reads (never guesses)."""

    capability = Capability.PREEMPTION_RECORD
    verbs = ("preemptions",)

    @abstractmethod
    def preemptions(self, since: datetime) -> list[Preemption]:
        """Instances the cloud preempted since then, from the cloud's own record."""


def contract_problems(cls: type) -> list[str]:
    """What keeps `cls` from being a provider, one sentence each (empty when it is one)."""
    if not (isinstance(cls, type) and issubclass(cls, Provider)):
        return ["it is not a subclass of nbctl_cloud.provider.Provider"]
    problems = []
    if not cls.name:
        problems.append("it sets no `name`")
    missing = set(getattr(cls, "__abstractmethods__", ()))
    for verb in sorted(missing):
        owner = next((c for c in cls.__mro__ if verb in vars(c)
                      and getattr(vars(c)[verb], "__isabstractmethod__", False)), None)
        cap = getattr(owner, "capability", None) if owner is not None else None
        claim = f"the {cap.value} capability" if cap is not None else "the core contract"
        problems.append(f"it declares {claim} but does not define {verb}()")
    return problems


def describe_capabilities(provider: type[Provider] | Provider) -> list[dict]:
    """Rows for listings: each capability, whether the provider has it, and why not."""
    return [{"capability": cap.value, "supported": cap in provider.capabilities,
             "note": "" if cap in provider.capabilities else provider.reasons.get(cap, "")}
            for cap in Capability]


def match_labels(have: dict[str, str], want: dict[str, str] | None) -> bool:
    return all(have.get(k) == v for k, v in (want or {}).items())
