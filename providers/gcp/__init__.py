"""The GCP provider: on-demand notebooks as Vertex AI Workbench instances, `--preemptible`
ones as Compute Engine SPOT VMs with a Deep Learning VM image.

Importing this package imports no Google SDK: the backends (gce, workbench) and their clients
load on the first verb that needs the cloud.

Where an instance lives (backend, zone) is found from the cloud: an aggregated VM list (one
call for every zone) and one Workbench list per location. What was found is remembered in
a small file under nbctl's data dir (names and zones only), so that the next command goes
straight to the instance; a stale entry just costs a fresh search.
"""
from __future__ import annotations

import json
import os
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from nbctl_cloud.errors import CapabilityError, NotFound, UserError
from nbctl_cloud.model import (
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

# How long a search that found nothing is trusted within one process. Creating twice is still
# impossible: inserts carry a requestId and an existing name answers 409.
ABSENT_TTL = 10.0

if TYPE_CHECKING:  # pragma: no cover
    from .gce import Gce
    from .workbench import Workbench


class GcpProvider(Provider, StopStart, NativeIdleShutdown, NativeSchedule, NotebookUrl, Spot,
                  PreemptionRecord, Jobs):
    name = "gcp"
    extra = "gcp"
    sdk_modules = ("google.cloud.compute_v1", "google.cloud.notebooks_v2")
    # Compute Engine and Workbench share this rule.
    name_pattern = r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?"
    name_rule = ("1-63 characters: lowercase letters, digits and hyphens, starting with a letter "
                 "and not ending with a hyphen")
    poll_interval: ClassVar[float] = 5.0

    def __init__(self, config: dict | None = None, owner: str = "nbctl"):
        super().__init__(config, owner)
        self.settings = Settings.load(self.config)
        self._clients = None
        self._gce: "Gce | None" = None
        self._workbench: "Workbench | None" = None
        self._where: dict[str, tuple[str, str]] = {}  # name -> (backend, zone)
        self._absent: dict[str, float] = {}  # name -> when a full search last found nothing

    # -- backends (the SDK loads here) -------------------------------------------------
    @property
    def gce(self) -> "Gce":
        if self._gce is None:
            from .gce import Gce
            self._gce = Gce(self._sdk_clients(), self.settings, self.owner)
        return self._gce

    @property
    def workbench(self) -> "Workbench":
        if self._workbench is None:
            from .workbench import Workbench
            self._workbench = Workbench(self._sdk_clients(), self.settings, self.owner)
        return self._workbench

    def _sdk_clients(self):
        if self._clients is None:
            from .clients import Clients
            self._clients = Clients(self.settings)
        return self._clients

    def _backend(self, kind: str):
        return self.gce if kind == BACKEND_GCE else self.workbench

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
    def _hints_path(self) -> Path:
        from nbctl_cloud.config import data_dir
        return data_dir() / "gcp-locations.json"

    def _read_hints(self) -> dict:
        try:
            return json.loads(self._hints_path().read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def _remember(self, name: str, backend: str | None, zone: str | None) -> None:
        hints = self._read_hints()
        if backend and zone:
            self._where[name] = (backend, zone)
            hints[name] = [backend, zone]
        else:
            self._where.pop(name, None)
            hints.pop(name, None)
        path = self._hints_path()
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(hints, sort_keys=True))
        os.replace(tmp, path)

    def _workbench_zones(self) -> list[str]:
        """Locations searched for Workbench instances: the configured ones and those seen."""
        zones = list(self.config.get("workbench_zones") or [])
        if self.settings.zone:
            zones.append(self.settings.zone)
        zones += zones_of(self.settings.region)
        zones += [z for b, z in self._read_hints().values() if b == BACKEND_WORKBENCH]
        zones += [z for b, z in self._where.values() if b == BACKEND_WORKBENCH]
        return list(dict.fromkeys(zones))

    def _locate(self, name: str, *, search: bool = True) -> tuple[str, str] | None:
        if name in self._where:
            return self._where[name]
        hint = self._read_hints().get(name)
        if hint:
            self._where[name] = (hint[0], hint[1])
            return self._where[name]
        if not search:
            return None
        # `up` asks get() and then create(): one search answers both.
        if time.monotonic() - self._absent.get(name, -ABSENT_TTL) < ABSENT_TTL:
            return None
        zone = self.gce.find(name)
        if zone:
            self._remember(name, BACKEND_GCE, zone)
            return BACKEND_GCE, zone
        for inst in self.workbench.list({"nbctl-name": name}, self._workbench_zones()):
            if inst.name == name and inst.zone:
                self._remember(name, BACKEND_WORKBENCH, inst.zone)
                return BACKEND_WORKBENCH, inst.zone
        self._absent[name] = time.monotonic()
        return None

    def _require(self, name: str) -> tuple[str, str]:
        where = self._locate(name)
        if where is None:
            raise NotFound(f"no GCP instance named {name!r}: see `nbctl status --refresh`")
        return where

    # -- the verbs -----------------------------------------------------------------------
    def create(self, spec: "InstanceSpec") -> Instance:
        """Create in spec.zone (the core tries candidate_zones in turn); an existing
        instance with this name is returned unchanged. Waits for the cloud's create operation
        so that a stockout is raised as CapacityError(scope=ZONE) with nothing left behind."""
        self.validate_spec(spec)
        existing = self.get(spec.name)
        if existing is not None:
            return existing
        backend = backend_for(spec)
        zone = spec.zone or self.candidate_zones(spec)[0]
        try:
            inst = self._backend(backend).create(spec, zone)
        finally:
            self._absent.pop(spec.name, None)
        self._remember(spec.name, backend, zone)
        return inst

    def get(self, name: str) -> Instance | None:
        """One direct call when the location is known; a search (two calls or so) otherwise."""
        where = self._locate(name)
        if where is None:
            return None
        inst = self._backend(where[0]).get(name, where[1])
        if inst is None:  # gone, or moved: forget the hint and look again once
            self._remember(name, None, None)
            where = self._locate(name)
            inst = self._backend(where[0]).get(name, where[1]) if where else None
        return inst

    def list(self, labels: dict[str, str] | None = None) -> list[Instance]:
        """One aggregated VM list (every zone at once) plus one Workbench list per location."""
        found = self.gce.list(labels) + self.workbench.list(labels, self._workbench_zones())
        for inst in found:
            if inst.zone and inst.backend:
                self._where[inst.name] = (inst.backend, inst.zone)
        return found

    def stop(self, name: str) -> None:
        """Ask the cloud to stop it, keeping its disk; stopped ones: no-op. Returns at once."""
        backend, zone = self._require(name)
        self._backend(backend).stop(name, zone)

    def start(self, name: str) -> None:
        """Ask the cloud to start it; running ones: no-op. Returns at once."""
        backend, zone = self._require(name)
        self._backend(backend).start(name, zone)

    def delete(self, name: str) -> None:
        """Delete the instance (and detach its schedule policy, deleting it if unused).
        If it does not exist, return silently."""
        where = self._locate(name)
        if where is None:
            return
        self._backend(where[0]).delete(name, where[1])
        self._absent.pop(name, None)

    def set_idle_shutdown(self, name: str, timeout_seconds: int | None) -> None:
        """Workbench: its own `idle-timeout-seconds`; spot VMs: nbctl's on-VM agent."""
        backend, zone = self._require(name)
        note = self._backend(backend).set_idle_shutdown(name, zone, timeout_seconds)
        if note:
            self.note(note)

    def native_schedule_for(self, backend: str) -> bool:
        """Whether instances of this backend have a cloud-side cron (only Compute Engine)."""
        return backend == BACKEND_GCE

    def set_schedule(self, name: str, schedule: "Schedule") -> None:
        """Spot VMs: an instance-schedule resource policy shared by identical schedules.
        Workbench instances raise CapabilityError, and the core runs the schedule itself."""
        backend, zone = self._require(name)
        if not self.native_schedule_for(backend):
            raise CapabilityError(NO_NATIVE_CRON)
        from .policies import attach
        attach(self.gce, name, zone, schedule)

    def clear_schedule(self, name: str) -> None:
        """Detach the schedule policy and delete it if no instance uses it; none: no-op."""
        where = self._locate(name)
        if where is None or where[0] != BACKEND_GCE:
            return
        from .policies import clear
        clear(self.gce, name, where[1])

    def preemptions(self, since: datetime) -> list[Preemption]:
        """From Compute Engine's own record (operations `compute.instances.preempted`)."""
        return self.gce.preemptions(since)

    def run_job(self, name: str, job: "JobSpec", restart: int) -> None:
        """Spot VMs only: the attempt goes into the VM's `nbctl-job` metadata, where the job
        launcher of its start-up script picks it up. Returns once the metadata is written;
        the same run_id and restart twice writes nothing. Workbench instances raise
        CapabilityError."""
        backend, zone = self._require(name)
        if backend != BACKEND_GCE:
            raise CapabilityError(NO_JOBS_ON_WORKBENCH)
        from .gce_jobs import run_job
        run_job(self.gce, name, zone, job, restart)

    def cancel_job(self, name: str, run_id: str) -> None:
        """Remove the job from the VM's metadata; the launcher SIGTERMs it. If the instance
        or the job is gone, return silently."""
        where = self._locate(name)
        if where is None or where[0] != BACKEND_GCE:
            return
        from .gce_jobs import cancel_job
        cancel_job(self.gce, name, where[1], run_id)

    def notebook_url(self, name: str) -> str:
        """Workbench: its proxy URI (Google sign-in); spot VM: Jupyter with its token."""
        backend, zone = self._require(name)
        return self._backend(backend).notebook_url(name, zone)

    def close(self) -> None:
        self._gce = self._workbench = self._clients = None
