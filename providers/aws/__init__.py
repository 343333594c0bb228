"""The AWS provider: on-demand notebooks as SageMaker notebook instances, `--preemptible`
ones as EC2 spot instances with a Deep Learning AMI.

Importing this package imports no AWS SDK: the backends (sagemaker, ec2, schedules) and
boto3 load on the first verb that needs the cloud. Credentials come from boto3's standard
chain; AWS_ENDPOINT_URL points every client at another endpoint (boto3 honours it itself).

Where an instance lives (backend, region) is remembered by the core's location cache
(nbctl_cloud.locations), so that the next command goes straight to it; otherwise both backends
are asked, in every configured region. The id of each name's current EC2 launch is kept in the
same file (launches.py).
"""
from __future__ import annotations

from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, ClassVar

from nbctl_cloud.errors import CapabilityError, CapacityError, NbctlError, NotFound, UserError
from nbctl_cloud.locations import Location, MultiBackend
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
    Jobs,
    NativeIdleShutdown,
    NativeSchedule,
    NotebookUrl,
    PreemptionRecord,
    Provider,
    Spot,
    StopStart,
)

from .launches import Launches
from .settings import Settings, region_of

if TYPE_CHECKING:  # pragma: no cover
    from nbctl_cloud.model import JobSpec

    from .ec2 import Ec2
    from .sagemaker import SageMaker
    from .schedules import Schedules

SAGEMAKER = "sagemaker"
EC2 = "ec2"
NO_JOBS_ON_SAGEMAKER = ("training jobs on AWS run on EC2 spot instances: add --preemptible "
                        "(SageMaker notebook instances do not take nbctl jobs)")


def backend_for(spec: "InstanceSpec") -> str:
    """SageMaker notebook instances cannot be spot: --preemptible means EC2."""
    return EC2 if spec.preemptible else SAGEMAKER


class AwsProvider(MultiBackend, Provider, StopStart, NativeIdleShutdown, NativeSchedule,
                  NotebookUrl, Spot, PreemptionRecord, Jobs):
    name = "aws"
    extra = "aws"
    sdk_modules = ("boto3",)
    # SageMaker's rule for notebook instance names; nbctl names are also EC2 Name tags.
    name_pattern = r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
    name_rule = ("1-63 characters: letters, digits and hyphens, starting and ending with a "
                 "letter or digit")
    poll_interval: ClassVar[float] = 10.0
    not_found = "no AWS instance named {name!r}: see `nbctl status --refresh`"
    absent_ttl = 0.0  # nothing asks twice in a row: every look at a missing name searches
    restarts_preempted = True  # EC2 restarts an interrupted spot instance itself

    def __init__(self, config: dict | None = None, owner: str = "nbctl"):
        super().__init__(config, owner)
        self.settings = Settings.load(self.config)
        self.restart_wait = self.settings.spot_restart_wait
        self._clients = None
        self._schedules: "Schedules | None" = None
        self.register_backend(EC2, self._make_ec2)
        self.register_backend(SAGEMAKER, self._make_sagemaker)

    # -- backends (boto3 loads here) -----------------------------------------------------
    def _sdk(self):
        if self._clients is None:
            from .clients import Clients
            self._clients = Clients()
        return self._clients

    def _make_ec2(self) -> "Ec2":
        from .ec2 import Ec2
        return Ec2(self._sdk(), self.settings, self.owner)

    def _make_sagemaker(self) -> "SageMaker":
        from .sagemaker import SageMaker
        return SageMaker(self._sdk(), self.settings, self.owner)

    @property
    def ec2(self) -> "Ec2":
        return self.backend(EC2)

    @property
    def sagemaker(self) -> "SageMaker":
        return self.backend(SAGEMAKER)

    @property
    def schedules(self) -> "Schedules":
        if self._schedules is None:
            from .schedules import Schedules
            self._schedules = Schedules(self._sdk(), self.settings, self.owner)
        return self._schedules

    # -- checks without network ------------------------------------------------------------
    def offers(self, gpu: str | None = None, count: int | None = None,
               spot: bool = False) -> list[Offer]:
        """Spot offers are EC2 instances; on-demand ones SageMaker notebook instances."""
        return self.catalog_offers(gpu, count, spot, backend=EC2 if spot else SAGEMAKER)

    def unsupported(self, spec: "InstanceSpec") -> dict[Capability, str]:
        """SageMaker notebook instances (on-demand) take no jobs."""
        return {} if backend_for(spec) == EC2 else {Capability.JOBS: NO_JOBS_ON_SAGEMAKER}

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
    @cached_property
    def launches(self) -> Launches:
        """Each name's current EC2 launch id, in the location cache's file."""
        return Launches(self.locations.file)

    def _regions(self) -> list[str]:
        return list(dict.fromkeys([*self.settings.regions, *self.locations.places()]))

    def search(self, name: str) -> Location | None:
        """Both backends, region by region: a DescribeNotebookInstance and a DescribeInstances."""
        for region in self._regions():
            if self.sagemaker.describe(name, region) is not None:
                return Location(SAGEMAKER, region)
            if self.ec2.find(name, region) is not None:
                return Location(EC2, region)
        return None

    # -- the verbs -----------------------------------------------------------------------
    def create(self, spec: "InstanceSpec") -> Instance:
        """Create in spec.zone (an availability zone for EC2, a region for SageMaker), tagged
        with spec.labels. Returns once the cloud accepted the request; a stockout raises
        CapacityError(scope=ZONE) with nothing made. A retried EC2 launch carries the same
        ClientToken; a retried SageMaker create answers "duplicate" and returns the notebook."""
        self.validate_spec(spec)
        where = spec.zone or self.candidate_zones(spec)[0] or self.settings.region
        region = region_of(where)
        if backend_for(spec) == EC2:
            return self.create_in(spec.name, Location(EC2, region),
                                  lambda: self._launch(spec, where))
        return self.create_in(spec.name, Location(SAGEMAKER, region),
                              lambda: self.sagemaker.create(spec, region))

    def _launch(self, spec: "InstanceSpec", zone: str) -> Instance:
        """RunInstances under the name's current launch id (see launches.py)."""
        inst = self.ec2.create(spec, zone, self.launches.current(spec.name))
        if inst.state in (State.DELETING, State.DELETED):
            # The launch id named a launch since deleted (its end not written down here, e.g.
            # deleted from another computer): EC2 answered with that old instance.
            self.launches.end(spec.name)
            inst = self.ec2.create(spec, zone, self.launches.current(spec.name))
        return inst

    # get: MultiBackend's (one describe call when the location is known, else a search)

    def list(self, labels: dict[str, str] | None = None) -> list[Instance]:
        """Both backends and every region at once: per region, one DescribeInstances filtered
        by nbctl's tags, and one ListNotebookInstances beside one GetResources for the tags of
        nbctl's notebooks (more only for further pages)."""
        from nbctl_cloud.locations import each_place
        regions, backends = self._regions(), [self.ec2, self.sagemaker]  # made here, once
        found = each_place(lambda backend: backend.list(labels, regions), backends)
        return self.listed(found[0] + found[1],
                           place=lambda inst: region_of(inst.zone or self.settings.region))

    def stop(self, name: str) -> None:
        """StopInstances or StopNotebookInstance (disk kept); stopped ones: no-op. Returns at
        once."""
        self.on_backend(name, "stop")

    def start(self, name: str) -> None:
        """StartInstances or StartNotebookInstance; running ones: no-op. An interrupted EC2
        spot instance is left to EC2, which alone restarts it (a note says so). Returns at
        once."""
        note = self.on_backend(name, "start")
        if note:
            self.note(note)

    def failure(self, inst: Instance) -> "NbctlError | None":
        """A notebook SageMaker failed, read through the error table (its FailureReason
        "Insufficient ... capacity" is a CapacityError)."""
        if inst.backend != SAGEMAKER or not inst.detail:
            return None
        from nbctl_cloud.faults import Fault

        from .errors import to_error
        err = to_error(Fault(message=inst.detail, codes=("Failed",)),
                       action=f"start {inst.name} in {inst.zone}")
        return err if isinstance(err, CapacityError) else None

    def delete(self, name: str) -> None:
        """Delete the instance (EC2: cancel its spot request, terminate; SageMaker: stop,
        detach and delete its lifecycle config, delete). Missing: return silently."""
        where = self.locate(name)
        if where is None:
            return
        self.backend(where.backend).delete(name, where.place)
        self.launches.end(name)  # a later `up` of this name is a new launch

    def set_idle_shutdown(self, name: str, timeout_seconds: int | None) -> None:
        """SageMaker: the lifecycle config running nbctl's agent; EC2: the agent's user data."""
        note = self.on_backend(name, "set_idle_shutdown", timeout_seconds)
        if note:
            self.note(note)

    def set_schedule(self, name: str, schedule: "Schedule") -> None:
        """EventBridge Scheduler schedules calling stop/start on the instance itself."""
        backend, region = self.require_location(name)
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
        where = self.locate(name)
        self.schedules.clear(name, where.place if where else self.settings.region)

    def preemptions(self, since: datetime) -> list[Preemption]:
        """From EC2's own record: StateReason and spot request status."""
        return self.ec2.preemptions(since, self._regions())

    def check_job(self, job: "JobSpec") -> None:
        """The attempt's pointer fits an EC2 tag value; S3 storage has an instance profile."""
        from .ec2_jobs import check
        check(job, self.settings.instance_profile)

    def run_job(self, name: str, job: "JobSpec", restart: int) -> None:
        """EC2 only: the attempt is written to the job's storage and named in the instance's
        `nbctl-job` tag, where the job launcher of its user data picks it up. Returns once the
        tag is set; the same run_id and restart twice writes nothing."""
        backend, region = self.require_location(name)
        if backend != EC2:
            raise CapabilityError(NO_JOBS_ON_SAGEMAKER)
        from .ec2_jobs import run_job
        run_job(self.ec2, name, region, job, restart)

    def cancel_job(self, name: str, job: "JobSpec") -> None:
        """Delete the job's tags; the launcher SIGTERMs it. Gone: return silently."""
        where = self.locate(name)
        if where is None or where.backend != EC2:
            return
        from .ec2_jobs import cancel_job
        cancel_job(self.ec2, name, where.place, job.run_id)

    def notebook_url(self, name: str) -> str:
        """SageMaker: a presigned URL; EC2: the SSH route to its Jupyter (see nbctl_cloud.tunnel)."""
        return self.on_backend(name, "notebook_url")

    def close(self) -> None:
        self.close_backends()
        self._schedules = self._clients = None
