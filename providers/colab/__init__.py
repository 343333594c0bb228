"""The Colab provider: a notebook is a Colab Enterprise runtime (Vertex AI's NotebookService,
google-cloud-aiplatform's `aiplatform_v1` over REST), assigned from a runtime template that
carries its machine type, GPU and idle shutdown.

Importing this package imports no Google SDK: the runtimes backend and its client load on the
first verb that needs the cloud.

Choices the API imposes:
- The idle shutdown belongs to the template, in whole minutes from 10 to 1,440
  (NotebookIdleShutdownConfig); a timeout is rounded into that range, with a note. A runtime
  keeps its template's for life: the API cannot change it (UpdateNotebookRuntimeTemplate
  updates only the encryption key), so `nbctl idle` is refused with what to do instead.
- No spot runtimes, no preemptions, no jobs (see `reasons`); schedules run in
  `nbctl scheduler`, since Colab Enterprise's own schedules start notebook executions, not
  runtimes.
- Regions are the candidate "zones" of failover: --zone us-central1,us-east4 tries them in
  turn; without one, --region, else the configured `regions` (default: `region`).
"""
from __future__ import annotations

import re
from math import ceil
from typing import TYPE_CHECKING, ClassVar

from nbctl_cloud.errors import CapabilityError, UserError
from nbctl_cloud.locations import Location, MultiBackend
from nbctl_cloud.model import Capability, Instance, InstanceSpec, Offer
from nbctl_cloud.provider import NativeIdleShutdown, NotebookUrl, Provider, StopStart

from .settings import Settings

if TYPE_CHECKING:  # pragma: no cover
    from .runtimes import Runtimes

BACKEND = "runtime"
_ZONE = re.compile(r"[a-z]+-[a-z]+\d+-[a-z]")  # a Compute Engine zone, such as us-central1-a
IDLE_MINUTES = (10, 1440)  # NotebookIdleShutdownConfig.idle_timeout, accurate to the minute
NO_IDLE_CHANGE = ("a Colab Enterprise runtime keeps the idle shutdown of the template it was "
                  "assigned from, which the API cannot change: `nbctl down {name} --yes`, then "
                  "`nbctl up {name} --provider colab --idle-timeout DURATION`")


def idle_minutes(seconds: int) -> tuple[int, str | None]:
    """The idle timeout Colab Enterprise takes for `seconds`, and a note when it differs."""
    low, high = IDLE_MINUTES
    minutes = min(max(ceil(seconds / 60), low), high)
    if minutes * 60 == seconds:
        return minutes, None
    why = "the shortest" if minutes == low else "the longest" if minutes == high else "whole"
    return minutes, (f"idle timeout {seconds}s is {minutes} min on Colab Enterprise, which "
                     f"takes whole minutes from {low} to {high} ({why})")


class ColabProvider(MultiBackend, Provider, StopStart, NativeIdleShutdown, NotebookUrl):
    name = "colab"
    extra = "colab"
    sdk_modules = ("google.cloud.aiplatform_v1",)
    reasons: ClassVar[dict] = {
        Capability.SPOT: ("Colab Enterprise has no spot runtimes (a runtime template has no "
                          "spot field): drop --preemptible, or use --provider gcp "
                          "--preemptible for a spot VM"),
        Capability.NATIVE_SCHEDULE: ("Colab Enterprise's schedules start notebook executions, "
                                     "not runtimes: `nbctl scheduler` runs this one"),
        Capability.JOBS: ("Colab Enterprise runtimes take no nbctl jobs (a notebook execution "
                          "runs once and never resumes from a checkpoint): use --provider gcp "
                          "--preemptible or --provider aws --preemptible for a resumable job"),
        Capability.PREEMPTION_RECORD: "Colab Enterprise runtimes are never preempted",
    }
    # The runtime's id is the name: AIP-122 resource ids.
    name_pattern = r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?"
    name_rule = ("1-63 characters: lowercase letters, digits and hyphens, starting with a letter "
                 "and not ending with a hyphen")
    poll_interval: ClassVar[float] = 5.0
    not_found = "no Colab Enterprise runtime named {name!r}: see `nbctl status --refresh`"

    def __init__(self, config: dict | None = None, owner: str = "nbctl"):
        super().__init__(config, owner)
        self.settings = Settings.load(self.config)
        self._clients = None
        self.register_backend(BACKEND, self._make_runtimes)

    def _make_runtimes(self) -> "Runtimes":
        from .clients import Clients
        from .runtimes import Runtimes
        self._clients = Clients(self.settings)
        return Runtimes(self._clients, self.settings, self.owner)

    @property
    def runtimes(self) -> "Runtimes":
        return self.backend(BACKEND)

    # -- checks without network ------------------------------------------------------------
    def offers(self, gpu: str | None = None, count: int | None = None,
               spot: bool = False) -> list[Offer]:
        """Runtimes of nbctl's catalog; none as spot (Colab Enterprise has no spot runtimes)."""
        return [] if spot else self.catalog_offers(gpu, count, backend=BACKEND)

    def validate_spec(self, spec: "InstanceSpec") -> None:
        self.validate_name(spec.name)
        if spec.preemptible:
            self.require(Capability.SPOT)
        if not spec.gpu_count:
            raise UserError("colab needs a GPU: add --gpu, e.g. --gpu t4 "
                            "(see `nbctl gpus --provider colab`)")
        from nbctl_cloud.catalog import load_catalog
        load_catalog().cheapest(self.name, spec.gpu, spec.gpu_count, spot=False, backend=BACKEND)
        if spec.image:
            raise UserError("Colab Enterprise runtimes run Colab's own image: drop --image")
        for where in self.candidate_zones(spec):
            if where and _ZONE.fullmatch(where):
                raise UserError(f"Colab Enterprise places runtimes in regions, not zones: use "
                                f"{where.rsplit('-', 1)[0]} instead of {where}")
        if spec.region and spec.zones and any(z != spec.region for z in spec.zones):
            raise UserError("Colab Enterprise places runtimes in regions: give --region or a "
                            "--zone list of regions (e.g. --zone us-central1,us-east4), not both")

    def candidate_zones(self, spec: "InstanceSpec") -> list[str | None]:
        """--zone (a list of regions), else --region, else the configured regions."""
        if spec.zones:
            return list(spec.zones)
        if spec.region:
            return [spec.region]
        return list(self.settings.regions)

    def region_of(self, zone: str | None) -> str | None:
        return zone

    def runtime_user(self) -> str:
        """The email runtimes are assigned to: the configured one, else the credentials'
        service account; UserError naming the setting when neither says."""
        if self.settings.runtime_user:
            return self.settings.runtime_user
        email = getattr(self.runtimes.c.creds, "service_account_email", None)
        if email and "@" in email:
            return email
        raise UserError("Colab Enterprise assigns a runtime to a user: set runtime_user = "
                        "\"you@example.com\" under [providers.colab] in config.toml")

    # -- where runtimes live ---------------------------------------------------------------
    def _regions(self) -> list[str]:
        """Regions searched for runtimes: the configured ones and those seen."""
        places = [*self.settings.regions, self.settings.region, *self.locations.places(BACKEND)]
        return list(dict.fromkeys(places))

    def search(self, name: str) -> Location | None:
        """One get per region searched."""
        for region in self._regions():
            if self.runtimes.get_raw(name, region) is not None:
                return Location(BACKEND, region)
        return None

    # -- the verbs -------------------------------------------------------------------------
    def create(self, spec: "InstanceSpec") -> Instance:
        """Assign the runtime in spec.zone (a region; the core tries candidate_zones in turn)
        from the spec's template, found or made. Waits for the assign operation so that no
        capacity (or no regional quota) is raised as CapacityError with nothing left behind:
        the template made for it is deleted again. A retried create finds the same template
        and is given the same runtime."""
        self.validate_spec(spec)
        region = spec.zone or self.candidate_zones(spec)[0]
        minutes = None
        if spec.idle_timeout:
            minutes, note = idle_minutes(spec.idle_timeout)
            if note:
                self.note(f"{spec.name}: {note}")
        user = self.runtime_user()
        return self.create_in(spec.name, Location(BACKEND, region),
                              lambda: self.runtimes.create(spec, region, minutes, user))

    # get: MultiBackend's (one direct call when the region is known, else a search)

    def list(self, labels: dict[str, str] | None = None) -> list[Instance]:
        """One runtime list per region searched."""
        return self.listed(self.runtimes.list(labels, self._regions()),
                           place=lambda inst: inst.zone)

    def stop(self, name: str) -> None:
        """Ask Colab Enterprise to stop the runtime; stopped or stopping ones: no-op."""
        self.on_backend(name, "stop")

    def start(self, name: str) -> None:
        """Start the runtime (no capacity raises CapacityError); running ones: no-op."""
        self.on_backend(name, "start")

    def delete(self, name: str) -> None:
        """Delete the runtime, then its templates that no runtime uses. If neither exists,
        return silently."""
        where = self.locate(name)
        self.runtimes.delete(name, [where.place] if where else self._regions())
        self.locations.forget(name)

    def set_idle_shutdown(self, name: str, timeout_seconds: int | None) -> None:
        """Refused: the runtime's idle shutdown is its template's, which cannot change."""
        raise CapabilityError(NO_IDLE_CHANGE.format(name=name))

    def notebook_url(self, name: str) -> str:
        """The Colab Enterprise Runtimes page of the runtime's project (Google sign-in), where
        a notebook connects to it."""
        self.require_location(name)
        return self.runtimes.console_url()

    def close(self) -> None:
        self.close_backends()
        self._clients = None
