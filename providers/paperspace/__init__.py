"""The Paperspace provider: a notebook is a Paperspace machine of the chosen GPU type, made
from an ML-in-a-Box OS template, whose startup script starts Jupyter and nbctl's agent.

Served by the Paperspace REST API v1 (https://api.paperspace.com/v1, Bearer key) with httpx;
Gradient's notebooks API and the `gradient` SDK were retired on 2024-07-15. Importing this
package imports no HTTP client: `api` and `machines` load on the first verb that needs them.

Choices the API imposes:
- No tags on machines, and names are not unique: nbctl marks its machines with a per-machine
  startup script named `nbctl:<owner>:<name>:<spec-hash>` (see marker.py).
- Idle shutdown is native (`autoShutdownEnabled`/`autoShutdownTimeout`), in whole hours: a
  timeout is rounded up, and the rounding is reported in the created Instance's `detail`, in
  `warnings` and in nbctl's log. nbctl's agent on the machine keeps the exact timeout.
- No spot machines and no native scheduler: `--preemptible` is refused, and cron schedules
  run in `nbctl scheduler`.
- No metadata service: a job's attempts reach the machine through a mailbox in the job's
  storage (see jobs.py).
- Regions (ny2, ca1, ams1) are the candidate "zones" of failover.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from nbctl_cloud.errors import UserError
from nbctl_cloud.model import Capability, Instance, InstanceSpec, Offer
from nbctl_cloud.provider import (
    Jobs,
    NativeIdleShutdown,
    NotebookUrl,
    Provider,
    StopStart,
    match_labels,
)

from .settings import DISK_SIZES, JUPYTER_PORT, REGIONS, Settings, api_key

if TYPE_CHECKING:  # pragma: no cover
    from nbctl_cloud.model import JobSpec

    from .machines import Machines

BACKEND = "machines"


class PaperspaceProvider(Provider, StopStart, NativeIdleShutdown, NotebookUrl, Jobs):
    name = "paperspace"
    extra = "paperspace"
    sdk_modules = ("httpx",)
    reasons: ClassVar[dict] = {
        Capability.SPOT: ("Paperspace has no spot or preemptible machines: drop --preemptible, "
                          "or use --provider gcp or --provider aws for spot GPUs"),
        Capability.NATIVE_SCHEDULE: ("Paperspace has no machine scheduler: cron schedules run in "
                                     "`nbctl scheduler` on a machine that stays up"),
        Capability.PREEMPTION_RECORD: "Paperspace machines are never preempted",
    }
    # The API only asks for a non-empty name; nbctl keeps to a rule every cloud accepts, and
    # ':' (the marker's separator) can never appear in it.
    name_pattern = r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?"
    name_rule = ("1-63 characters: lowercase letters, digits and hyphens, starting with a letter "
                 "and not ending with a hyphen")
    poll_interval: ClassVar[float] = 5.0

    def __init__(self, config: dict | None = None, owner: str = "nbctl"):
        super().__init__(config, owner)
        self.settings = Settings.load(self.config)
        self._machines: "Machines | None" = None
        self._gpu_of: dict[str, tuple[str, int]] | None = None

    @property
    def machines(self) -> "Machines":
        """The API backend; the key is read (and httpx imported) on first use."""
        if self._machines is None:
            key = api_key(self.config)
            from .api import Api
            from .machines import Machines
            self._machines = Machines(Api(self.settings.api_url, key), self.settings, self.owner)
        return self._machines

    # -- checks without network ------------------------------------------------------------
    def offers(self, gpu: str | None = None, count: int | None = None,
               spot: bool = False) -> list[Offer]:
        """Machines of nbctl's catalog; none as spot (Paperspace has no spot machines)."""
        return [] if spot else self.catalog_offers(gpu, count, backend=BACKEND)

    def validate_spec(self, spec: "InstanceSpec") -> None:
        self.validate_name(spec.name)
        if spec.preemptible:
            self.require(Capability.SPOT)
        offer = self._offer(spec)
        for where in self.candidate_zones(spec):
            if where not in REGIONS:
                raise UserError(f"unknown Paperspace region {where!r}: use one of "
                                f"{', '.join(REGIONS)} with --region or --zone")
        allowed = [r for r in self.candidate_zones(spec) if not offer.regions or r in offer.regions]
        if not allowed:
            raise UserError(f"Paperspace offers {offer.instance_type} only in "
                            f"{', '.join(offer.regions)}: choose one of them with --region")
        disk = spec.disk_gb or self.settings.disk_gb
        if disk not in DISK_SIZES:
            raise UserError(f"invalid --disk-gb {disk} for Paperspace: use one of "
                            f"{', '.join(map(str, DISK_SIZES))}")

    def candidate_zones(self, spec: "InstanceSpec") -> list[str | None]:
        """--zone list, else --region, else the configured region, then the offer's other
        regions: Paperspace regions play the part of zones."""
        if spec.zones:
            return list(spec.zones)
        if spec.region:
            return [spec.region]
        offered = list((self._offer(spec).regions if spec.gpu_count else ()) or REGIONS)
        first = self.settings.region
        return ([first] if first in offered else []) + [r for r in offered if r != first]

    def region_of(self, zone: str | None) -> str | None:
        return zone

    # -- the verbs -------------------------------------------------------------------------
    def create(self, spec: "InstanceSpec") -> Instance:
        """Create the machine and return once Paperspace accepted it (state provisioning).

        Marked with spec.labels (see marker.py); a create retried after Paperspace accepted it
        returns that machine. A type Paperspace reports unavailable in the region raises
        CapacityError(ZONE) before anything is made."""
        self.validate_spec(spec)
        from nbctl_cloud.bootscript import POWER_OFF, startup_script
        from nbctl_cloud.tunnel import instance_key

        from .machines import STOP_COMMAND, to_instance
        from .marker import Marker

        offer = self._offer(spec)
        region = self.candidate_zones(spec)[0]
        marker = Marker.from_labels(spec.labels)
        # no secret in the script: `nbctl-admin` gets in with this machine's public key
        script = startup_script(stop_command=STOP_COMMAND, idle_timeout=spec.idle_timeout,
                                jupyter_port=JUPYTER_PORT,
                                authorized_key=instance_key("paperspace", spec.name)[1],
                                fallback_stop_command=POWER_OFF)
        found, note = self.machines.create(
            marker=marker, machine_type=offer.instance_type, region=region,
            template_id=spec.image,  # --image names an OS template id
            disk_gb=spec.disk_gb or self.settings.disk_gb, idle_timeout=spec.idle_timeout,
            startup_script=script)
        if note:
            self.note(f"{spec.name}: {note}")
        return to_instance(found, self.name, self.gpu_of(), detail=note)

    def get(self, name: str) -> Instance | None:
        """The machine as Paperspace sees it now, or None if nbctl made none with this name."""
        from .machines import to_instance
        found = self.machines.find(name)
        if found is None:
            return None
        return to_instance(found, self.name, self.gpu_of(),
                           failure=self.machines.failure(found.machine))

    def list(self, labels: dict[str, str] | None = None) -> list[Instance]:
        """Every nbctl machine of this owner in every region: two listings, plus one events
        listing per machine still provisioning (only there can a failed create show)."""
        from .machines import to_instance
        out = [to_instance(f, self.name, self.gpu_of(), failure=self.machines.failure(f.machine))
               for f in self.machines.list()]
        return [i for i in out if match_labels(i.labels, labels)]

    def stop(self, name: str) -> None:
        """Ask Paperspace to stop it (disk kept). Stopped or stopping ones: no-op."""
        self.machines.stop(name)

    def start(self, name: str) -> None:
        """Ask Paperspace to start it. Running or starting ones: no-op."""
        self.machines.start(name)

    def delete(self, name: str) -> None:
        """Delete the machine and its marker script. If neither exists, return silently."""
        self.machines.delete(name)

    def set_idle_shutdown(self, name: str, timeout_seconds: int | None) -> None:
        """Set Paperspace's auto-shutdown, rounded up to whole hours (None turns it off)."""
        note = self.machines.set_idle_shutdown(name, timeout_seconds)
        if note:
            self.note(f"{name}: {note}")

    def run_job(self, name: str, job: "JobSpec", restart: int) -> None:
        """The attempt goes to a mailbox in the job's storage that the machine's job launcher
        watches; a machine new to the job gets that launcher and a restart (see jobs.py)."""
        from .jobs import run_job
        run_job(self.machines, name, job, restart)

    def cancel_job(self, name: str, job: "JobSpec") -> None:
        """Delete the job's mailbox; the launcher SIGTERMs it."""
        from .jobs import cancel_job
        cancel_job(job)

    def notebook_url(self, name: str) -> str:
        """The SSH route to the machine's Jupyter (on its loopback; see nbctl_cloud.tunnel)."""
        return self.machines.notebook_url(name)

    def close(self) -> None:
        if self._machines is not None:
            self._machines.api.close()
            self._machines = None

    # -- helpers ---------------------------------------------------------------------------
    def _offer(self, spec: "InstanceSpec") -> Offer:
        from nbctl_cloud.catalog import load_catalog
        if not spec.gpu_count:
            raise UserError("paperspace needs a GPU: add --gpu, e.g. --gpu a4000 "
                            "(see `nbctl gpus --provider paperspace`)")
        return load_catalog().cheapest(self.name, spec.gpu, spec.gpu_count, spot=False,
                                       backend=BACKEND)

    def gpu_of(self) -> dict[str, tuple[str, int]]:
        """Paperspace machine type -> (canonical GPU, count), from the catalog."""
        if self._gpu_of is None:
            from nbctl_cloud.catalog import load_catalog
            self._gpu_of = {o.instance_type: (o.gpu, o.count) for o in
                            load_catalog().offers(provider=self.name, backend=BACKEND)}
        return self._gpu_of
