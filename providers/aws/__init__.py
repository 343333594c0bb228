"""The AWS provider: on-demand notebooks as SageMaker notebook instances, `--preemptible`
ones as EC2 spot instances with a Deep Learning AMI.

Importing this package imports no AWS SDK: the backends (sagemaker, ec2, schedules) and
boto3 load on the first verb that needs the cloud. Credentials come from boto3's standard
chain; AWS_ENDPOINT_URL points every client at another endpoint (boto3 honours it itself).

Where an instance lives (backend, region), and the id of its current EC2 launch, are
remembered in a small file under nbctl's data dir (see hints.py), so that the next command
goes straight to it; otherwise both backends are asked, in every configured region.
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from nbctl_cloud.errors import NotFound, UserError
from nbctl_cloud.model import (
    Capability,
    Instance,
    InstanceSpec,
    Offer,
    Preemption,
    Schedule,
    State,
)
from nbctl_cloud.provider import (
    NativeIdleShutdown,
    NativeSchedule,
    NotebookUrl,
    PreemptionRecord,
    Provider,
    Spot,
    StopStart,
)

from .hints import Hints
from .settings import Settings, region_of

if TYPE_CHECKING:  # pragma: no cover
    from .ec2 import Ec2
    from .sagemaker import SageMaker
    from .schedules import Schedules

SAGEMAKER = "sagemaker"
EC2 = "ec2"


def backend_for(spec: "InstanceSpec") -> str:
    """SageMaker notebook instances cannot be spot: --preemptible means EC2."""
    return EC2 if spec.preemptible else SAGEMAKER


class AwsProvider(Provider, StopStart, NativeIdleShutdown, NativeSchedule, NotebookUrl, Spot,
                  PreemptionRecord):
    name = "aws"
    extra = "aws"
    sdk_modules = ("boto3",)
    reasons: ClassVar[dict] = {
        Capability.JOBS: "training jobs (`nbctl run`) are not available on the aws provider yet",
    }
    # SageMaker's rule for notebook instance names; nbctl names are also EC2 Name tags.
    name_pattern = r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
    name_rule = ("1-63 characters: letters, digits and hyphens, starting and ending with a "
                 "letter or digit")
    poll_interval: ClassVar[float] = 10.0

    def __init__(self, config: dict | None = None, owner: str = "nbctl"):
        super().__init__(config, owner)
        self.settings = Settings.load(self.config)
        self._clients = None
        self._ec2: "Ec2 | None" = None
        self._sagemaker: "SageMaker | None" = None
        self._schedules: "Schedules | None" = None
        self._where: dict[str, tuple[str, str]] = {}  # name -> (backend, region)
        self._hints: Hints | None = None

    # -- backends (boto3 loads here) -----------------------------------------------------
    def _sdk(self):
        if self._clients is None:
            from .clients import Clients
            self._clients = Clients()
        return self._clients

    @property
    def ec2(self) -> "Ec2":
        if self._ec2 is None:
            from .ec2 import Ec2
            self._ec2 = Ec2(self._sdk(), self.settings, self.owner,
                            key_path=self._data_path("aws-jupyter.key"))
        return self._ec2

    @property
    def sagemaker(self) -> "SageMaker":
        if self._sagemaker is None:
            from .sagemaker import SageMaker
            self._sagemaker = SageMaker(self._sdk(), self.settings, self.owner)
        return self._sagemaker

    @property
    def schedules(self) -> "Schedules":
        if self._schedules is None:
            from .schedules import Schedules
            self._schedules = Schedules(self._sdk(), self.settings, self.owner)
        return self._schedules

    def _backend(self, kind: str):
        return self.ec2 if kind == EC2 else self.sagemaker

    # -- checks without network ------------------------------------------------------------
    def offers(self, gpu: str | None = None, count: int | None = None,
               spot: bool = False) -> list[Offer]:
        """Spot offers are EC2 instances; on-demand ones SageMaker notebook instances."""
        return self.catalog_offers(gpu, count, spot, backend=EC2 if spot else SAGEMAKER)

    def validate_spec(self, spec: "InstanceSpec") -> None:
        self.validate_name(spec.name)
        if spec.gpu_count:
            from nbctl_cloud.catalog import load_catalog
            load_catalog().cheapest(self.name, spec.gpu, spec.gpu_count, spot=spec.preemptible,
                                    backend=backend_for(spec))
        if not spec.preemptible:
            if spec.image:
                raise UserError("SageMaker notebook instances run Amazon's own images, so "
                                "--image applies only with --preemptible (an EC2 AMI id or "
                                "name): drop --image or add --preemptible")
            self.settings.require_role()
        self.check_zones_in_region(spec)
        if spec.schedule is not None:
            from .cron import to_eventbridge
            for expr in (spec.schedule.stop, spec.schedule.start):
                if expr:
                    to_eventbridge(expr)
            self.settings.require_scheduler_role()

    def candidate_zones(self, spec: "InstanceSpec") -> list[str | None]:
        """EC2: --zone list, else the availability zones of --region (or the configured
        region), from DescribeAvailabilityZones. SageMaker picks its own zone, so its
        candidates are regions: --region, the regions of --zone, or the configured one."""
        region = spec.region or self.settings.region
        if not spec.preemptible:
            regions = [region_of(z) for z in spec.zones] if spec.zones else [region]
            return list(dict.fromkeys(regions))
        if spec.zones:
            return list(spec.zones)
        from .errors import call
        ec2 = self._sdk().get("ec2", region)
        zones = call(ec2.describe_availability_zones, action=f"list the zones of {region}",
                     Filters=[{"Name": "state", "Values": ["available"]},
                              {"Name": "zone-type", "Values": ["availability-zone"]}])
        return sorted(z["ZoneName"] for z in zones["AvailabilityZones"]) or [None]

    def region_of(self, zone: str | None) -> str | None:
        return region_of(zone) if zone else None

    # -- where instances live --------------------------------------------------------------
    @staticmethod
    def _data_path(file: str) -> Path:
        from nbctl_cloud.config import data_dir
        return data_dir() / file

    @property
    def hints(self) -> Hints:
        if self._hints is None:
            self._hints = Hints(self._data_path("aws-locations.json"))
        return self._hints

    def _remember(self, name: str, backend: str | None, region: str | None) -> None:
        if backend and region:
            self._where[name] = (backend, region)
        else:
            self._where.pop(name, None)
        self.hints.set_location(name, backend, region)

    def _regions(self) -> list[str]:
        seen = [r for _, r in self.hints.locations().values()] + [r for _, r in self._where.values()]
        return list(dict.fromkeys([*self.settings.regions, *seen]))

    def _locate(self, name: str) -> tuple[str, str] | None:
        if name in self._where:
            return self._where[name]
        hint = self.hints.locations().get(name)
        if hint:
            self._where[name] = hint
            return hint
        for region in self._regions():
            if self.sagemaker.describe(name, region) is not None:
                self._remember(name, SAGEMAKER, region)
                return self._where[name]
            if self.ec2.find(name, region) is not None:
                self._remember(name, EC2, region)
                return self._where[name]
        return None

    def _require(self, name: str) -> tuple[str, str]:
        where = self._locate(name)
        if where is None:
            raise NotFound(f"no AWS instance named {name!r}: see `nbctl status --refresh`")
        return where

    # -- the verbs -----------------------------------------------------------------------
    def create(self, spec: "InstanceSpec") -> Instance:
        """Create in spec.zone (an availability zone for EC2, a region for SageMaker); an
        existing instance with this name is returned unchanged. Returns once the cloud
        accepted the request; a stockout raises CapacityError(scope=ZONE) with nothing made."""
        self.validate_spec(spec)
        existing = self.get(spec.name)
        if existing is not None:
            return existing
        backend = backend_for(spec)
        where = spec.zone or self.candidate_zones(spec)[0] or self.settings.region
        region = region_of(where)
        if backend == EC2:
            inst = self.ec2.create(spec, where, self.hints.launch(spec.name))
            if inst.state in (State.DELETING, State.DELETED):
                # The launch id named a launch since deleted (its end not written down here,
                # e.g. deleted from another computer): EC2 answered with that old instance.
                self.hints.end_launch(spec.name)
                inst = self.ec2.create(spec, where, self.hints.launch(spec.name))
        else:
            inst = self.sagemaker.create(spec, region)
        self._remember(spec.name, backend, region)
        return inst

    def get(self, name: str) -> Instance | None:
        """One describe call when the location is known; a search otherwise."""
        where = self._locate(name)
        if where is None:
            return None
        inst = self._backend(where[0]).get(name, where[1])
        if inst is None:  # gone, or made anew elsewhere: forget the hint and look once more
            self._remember(name, None, None)
            where = self._locate(name)
            inst = self._backend(where[0]).get(name, where[1]) if where else None
        return inst

    def list(self, labels: dict[str, str] | None = None) -> list[Instance]:
        """Per region: one DescribeInstances filtered by nbctl's tags, and one
        ListNotebookInstances (tags read once per notebook)."""
        regions = self._regions()
        found = self.ec2.list(labels, regions) + self.sagemaker.list(labels, regions)
        for inst in found:
            self._where[inst.name] = (inst.backend, region_of(inst.zone or self.settings.region))
        return found

    def stop(self, name: str) -> None:
        """Ask the cloud to stop it, keeping its disk; stopped ones: no-op. Returns at once."""
        backend, region = self._require(name)
        self._backend(backend).stop(name, region)

    def start(self, name: str) -> None:
        """Ask the cloud to start it; running ones: no-op. Returns at once."""
        backend, region = self._require(name)
        self._backend(backend).start(name, region)

    def delete(self, name: str) -> None:
        """Delete the instance (EC2: cancel its spot request, terminate; SageMaker: stop,
        detach and delete its lifecycle config, delete). Missing: return silently."""
        where = self._locate(name)
        if where is None:
            return
        self._backend(where[0]).delete(name, where[1])
        self.hints.end_launch(name)  # a later `up` of this name is a new launch

    def set_idle_shutdown(self, name: str, timeout_seconds: int | None) -> None:
        """SageMaker: the lifecycle config running nbctl's agent; EC2: the agent's user data."""
        backend, region = self._require(name)
        note = self._backend(backend).set_idle_shutdown(name, region, timeout_seconds)
        if note:
            self.note(note)

    def set_schedule(self, name: str, schedule: "Schedule") -> None:
        """EventBridge Scheduler schedules calling stop/start on the instance itself."""
        backend, region = self._require(name)
        native = name
        if backend == EC2:
            inst = self.ec2.get(name, region)
            if inst is None:
                raise NotFound(f"no EC2 instance named {name!r}")
            native = inst.native_id
        self.schedules.put(name=name, backend=backend, native=native, region=region,
                           schedule=schedule)

    def clear_schedule(self, name: str) -> None:
        """Delete the instance's schedules; none: no-op."""
        where = self._locate(name)
        region = where[1] if where else self.settings.region
        self.schedules.clear(name, region)

    def preemptions(self, since: datetime) -> list[Preemption]:
        """From EC2's own record: StateReason and spot request status."""
        return self.ec2.preemptions(since, self._regions())

    def notebook_url(self, name: str) -> str:
        """SageMaker: a presigned URL; EC2: Jupyter on the public IP with its token."""
        backend, region = self._require(name)
        return self._backend(backend).notebook_url(name, region)

    def close(self) -> None:
        self._ec2 = self._sagemaker = self._schedules = self._clients = None
