"""The GCP provider: on-demand notebooks as Vertex AI Workbench instances, `--preemptible`
ones as Compute Engine SPOT VMs with a Deep Learning VM image.

Importing this package imports no Google SDK: the backends (gce, workbench) and their clients
load on the first verb that needs the cloud.

Where an instance lives (backend, zone) is found from the cloud: an aggregated VM list (one
call for every zone) and one Workbench list per location. The core's location cache
(nbctl_cloud.locations) remembers what was found, so that the next command goes straight to
the instance; a stale entry just costs a fresh search.
"""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from nbctl_cloud.errors import CapabilityError, UserError
from nbctl_cloud.locations import Location, MultiBackend
from nbctl_cloud.model import (
    LABEL_NAME,
    Capability,
    Instance,
    InstanceSpec,
    JobSpec,
    Offer,
    Preemption,
    Schedule,
)
from nbctl_cloud.provider import (
    Jobs,
    NativeIdleShutdown,
    NativeSchedule,
    NotebookUrl,
    PreemptionRecord,
    Provider,
    Spot,
    StopStart,
)

from .common import (
    BACKEND_GCE,
    BACKEND_WORKBENCH,
    NO_JOBS_ON_WORKBENCH,
    NO_NATIVE_CRON,
    WORKBENCH_MIN_DISK_GB,
    backend_for,
)
from .settings import Settings
from .zones import region_of, zones_of

if TYPE_CHECKING:  # pragma: no cover
    from .gce import Gce
    from .workbench import Workbench


class GcpProvider(MultiBackend, Provider, StopStart, NativeIdleShutdown, NativeSchedule,
                  NotebookUrl, Spot, PreemptionRecord, Jobs):
    name = "gcp"
    extra = "gcp"
    sdk_modules = ("google.cloud.compute_v1", "google.cloud.notebooks_v2")
    # Compute Engine and Workbench share this rule.
    name_pattern = r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?"
    name_rule = ("1-63 characters: lowercase letters, digits and hyphens, starting with a letter "
                 "and not ending with a hyphen")
    poll_interval: ClassVar[float] = 5.0
    not_found = "no GCP instance named {name!r}: see `nbctl status --refresh`"

    def __init__(self, config: dict | None = None, owner: str = "nbctl"):
        super().__init__(config, owner)
        self.settings = Settings.load(self.config)
        self._clients = None
        self.register_backend(BACKEND_GCE, self._make_gce)
        self.register_backend(BACKEND_WORKBENCH, self._make_workbench)

    # -- backends (the SDK loads here) -------------------------------------------------
    def _make_gce(self) -> "Gce":
        from .gce import Gce
        return Gce(self._sdk_clients(), self.settings, self.owner)

    def _make_workbench(self) -> "Workbench":
        from .workbench import Workbench
        return Workbench(self._sdk_clients(), self.settings, self.owner)

    @property
    def gce(self) -> "Gce":
        return self.backend(BACKEND_GCE)

    @property
    def workbench(self) -> "Workbench":
        return self.backend(BACKEND_WORKBENCH)

    def _sdk_clients(self):
        if self._clients is None:
            from .clients import Clients
            self._clients = Clients(self.settings)
        return self._clients

    # -- checks without network ------------------------------------------------------------
    def offers(self, gpu: str | None = None, count: int | None = None,
               spot: bool = False) -> list[Offer]:
        """Spot offers are Compute Engine VMs; on-demand ones Workbench instances."""
        return self.catalog_offers(gpu, count, spot,
                                   backend=BACKEND_GCE if spot else BACKEND_WORKBENCH)

    def unsupported(self, spec: "InstanceSpec") -> dict[Capability, str]:
        """Workbench instances (on-demand) have no native cron and take no jobs."""
        if backend_for(spec) == BACKEND_WORKBENCH:
            return {Capability.NATIVE_SCHEDULE: NO_NATIVE_CRON, Capability.JOBS: NO_JOBS_ON_WORKBENCH}
        return {}

    def validate_spec(self, spec: "InstanceSpec") -> None:
        self.validate_name(spec.name)
        backend = backend_for(spec)
        if spec.gpu_count:
            from nbctl_cloud.catalog import load_catalog
            load_catalog().cheapest(self.name, spec.gpu, spec.gpu_count, spot=spec.preemptible,
                                    backend=backend)
        if backend == BACKEND_WORKBENCH and spec.disk_gb and \
                spec.disk_gb < WORKBENCH_MIN_DISK_GB:
            raise UserError(f"Workbench instances need a boot disk of at least "
                            f"{WORKBENCH_MIN_DISK_GB} GB: use --disk-gb {WORKBENCH_MIN_DISK_GB} "
                            f"or more (or --preemptible for a Compute Engine VM)")
        self.check_zones_in_region(spec)

    def candidate_zones(self, spec: "InstanceSpec") -> list[str | None]:
        """--zone list, else the GPU zones of --region, else the configured zone or region."""
        if spec.zones:
            return list(spec.zones)
        if spec.region:
            return list(zones_of(spec.region))
        if self.settings.zone:
            return [self.settings.zone]
        return list(zones_of(self.settings.region))

    def region_of(self, zone: str | None) -> str | None:
        return region_of(zone) if zone else None

    # -- where instances live --------------------------------------------------------------
    def _workbench_zones(self) -> list[str]:
        """Locations searched for Workbench instances: the configured ones and those seen."""
        zones = list(self.config.get("workbench_zones") or [])
        if self.settings.zone:
            zones.append(self.settings.zone)
        zones += zones_of(self.settings.region)
        zones += self.locations.places(BACKEND_WORKBENCH)
        return list(dict.fromkeys(zones))

    def search(self, name: str) -> Location | None:
        """One aggregated VM list (every zone), then one Workbench list per location."""
        zone = self.gce.find(name)
        if zone:
            return Location(BACKEND_GCE, zone)
        from .listing import Listing
        listing = Listing(self.settings)
        try:
            found = listing.workbench({LABEL_NAME: name}, self._workbench_zones())
        finally:
            listing.close()
        return next((Location(BACKEND_WORKBENCH, i.zone) for i in found
                     if i.name == name and i.zone), None)

    # -- the verbs -----------------------------------------------------------------------
    def create(self, spec: "InstanceSpec") -> Instance:
        """Create in spec.zone (the core tries candidate_zones in turn), labelled with
        spec.labels. Waits for the cloud's create operation so that a stockout is raised as
        CapacityError(scope=ZONE) with nothing left behind. A retried create carries the same
        requestId, so it makes no second instance."""
        self.validate_spec(spec)
        backend = backend_for(spec)
        zone = spec.zone or self.candidate_zones(spec)[0]
        return self.create_in(spec.name, Location(backend, zone),
                              lambda: self.backend(backend).create(spec, zone))

    # get: MultiBackend's (one direct call when the location is known, else a search)

    def list(self, labels: dict[str, str] | None = None) -> list[Instance]:
        """One aggregated VM list (every zone at once) beside one Workbench list per location,
        the locations at once too (notebooks v2 has no aggregated list): read as JSON, with no
        SDK loaded (listing.py)."""
        from nbctl_cloud.locations import each_place

        from .listing import Listing
        listing, zones = Listing(self.settings), self._workbench_zones()
        try:
            found = each_place(lambda ask: ask(), [lambda: listing.vms(labels),
                                                   lambda: listing.workbench(labels, zones)])
        finally:
            listing.close()
        return self.listed(found[0] + found[1], place=lambda inst: inst.zone)

    def stop(self, name: str) -> None:
        """Stop the VM or Workbench instance, keeping its disk; stopped ones: no-op. Returns
        at once."""
        self.on_backend(name, "stop")

    def start(self, name: str) -> None:
        """Start the VM (a stockout raises CapacityError) or Workbench instance; running ones:
        no-op. Returns at once."""
        self.on_backend(name, "start")

    def delete(self, name: str) -> None:
        """Delete the instance (and detach its schedule policy, deleting it if unused).
        If it does not exist, return silently."""
        where = self.locate(name)
        if where is None:
            return
        self.backend(where.backend).delete(name, where.place)

    def set_idle_shutdown(self, name: str, timeout_seconds: int | None) -> None:
        """Workbench: its own `idle-timeout-seconds`; spot VMs: nbctl's on-VM agent."""
        note = self.on_backend(name, "set_idle_shutdown", timeout_seconds)
        if note:
            self.note(note)

    def native_schedule_for(self, backend: str) -> bool:
        """Whether instances of this backend have a cloud-side cron (only Compute Engine)."""
        return backend == BACKEND_GCE

    def set_schedule(self, name: str, schedule: "Schedule") -> None:
        """Spot VMs: an instance-schedule resource policy shared by identical schedules.
        Workbench instances raise CapabilityError, and the core runs the schedule itself."""
        backend, zone = self.require_location(name)
        if not self.native_schedule_for(backend):
            raise CapabilityError(NO_NATIVE_CRON)
        from .policies import attach
        attach(self.gce, name, zone, schedule)

    def clear_schedule(self, name: str) -> None:
        """Detach the schedule policy and delete it if no instance uses it; none: no-op."""
        where = self.locate(name)
        if where is None or where.backend != BACKEND_GCE:
            return
        from .policies import clear
        clear(self.gce, name, where.place)

    def preemptions(self, since: datetime) -> list[Preemption]:
        """From Compute Engine's own record (operations `compute.instances.preempted`)."""
        return self.gce.preemptions(since)

    def run_job(self, name: str, job: "JobSpec", restart: int) -> None:
        """Spot VMs only: the attempt goes into the VM's `nbctl-job` metadata, where the job
        launcher of its start-up script picks it up. Returns once the metadata is written;
        the same run_id and restart twice writes nothing. Workbench instances raise
        CapabilityError."""
        backend, zone = self.require_location(name)
        if backend != BACKEND_GCE:
            raise CapabilityError(NO_JOBS_ON_WORKBENCH)
        from .gce_jobs import run_job
        run_job(self.gce, name, zone, job, restart)

    def cancel_job(self, name: str, job: "JobSpec") -> None:
        """Remove the job from the VM's metadata; the launcher SIGTERMs it. If the instance
        or the job is gone, return silently."""
        where = self.locate(name)
        if where is None or where.backend != BACKEND_GCE:
            return
        from .gce_jobs import cancel_job
        cancel_job(self.gce, name, where.place, job.run_id)

    def notebook_url(self, name: str) -> str:
        """Workbench: its proxy URI (Google sign-in); spot VM: the SSH route to its Jupyter."""
        return self.on_backend(name, "notebook_url")

    def close(self) -> None:
        self.close_backends()
        self._clients = None
