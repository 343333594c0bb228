"""The `example` provider: a complete nbctl provider plugin, small enough to read at once.

Its machines live in the example cloud (cloud.py): a JSON file at `path` in the config section
[providers.example], else example-cloud.json in nbctl's data dir. They need no GPU, stop and
start, and have no notebook to open. nbctl finds the class through this distribution's entry
point (pyproject.toml): [project.entry-points."nbctl.providers"] example = "...:ExampleProvider"
"""
from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import ClassVar

from nbctl_cloud.errors import CapacityError, NotFound, Scope, UserError
from nbctl_cloud.faults import Fault, FaultTable, Row
from nbctl_cloud.model import Capability, Instance, InstanceSpec, Offer, State
from nbctl_cloud.provider import Provider, StopStart, match_labels

from .cloud import Cloud, CloudError

# The cloud's statuses -> nbctl's State, one row each.
STATES = {"booting": State.PROVISIONING, "up": State.RUNNING, "halting": State.STOPPING,
          "halted": State.STOPPED}

# The cloud's error codes -> nbctl's error class, failover scope and the user's fix: one row each,
# read by nbctl's fault-table machinery.
FAULTS = FaultTable(
    rows=(Row("no-capacity", CapacityError, Scope.GLOBAL, codes=("NO_CAPACITY",),
              fix="try again later or choose another --provider"),
          Row("no-such-machine", NotFound, codes=("NO_SUCH_MACHINE",),
              fix="see `nbctl status --refresh`")),
    said="the example cloud says {message} ({code})",
    unmatched="the example cloud says {message} ({code}): see the example cloud's file")


# (gpu, count, machine type, GPU memory GB, USD per hour): the example cloud's price list.
PRICES = [("t4", 1, "ex-t4", 16, 0.35), ("t4", 2, "ex-t4x2", 16, 0.70),
          ("a10g", 1, "ex-a10g", 24, 1.01)]


@contextmanager
def _cloud_errors():
    """Raise the cloud's errors as nbctl's, through the FAULTS table."""
    try:
        yield
    except CloudError as e:
        code, message = e.args
        raise FAULTS.to_error(Fault(message, codes=(code,))) from None


class ExampleProvider(Provider, StopStart):
    """Verbs return at once; machines boot and halt over a few `get` calls (the core waits)."""

    name = "example"
    needs_gpu = False  # a machine without --gpu is fine
    poll_interval: ClassVar[float] = 0.2
    reasons: ClassVar[dict[Capability, str]] = {  # what it cannot do, in the user's words
        Capability.SPOT: "the example cloud has no spot machines: drop --preemptible",
        Capability.NATIVE_IDLE_SHUTDOWN: "example machines have no idle shutdown",
        Capability.NATIVE_SCHEDULE: "the example cloud has no scheduler of its own",
        Capability.PREEMPTION_RECORD: "example machines are never preempted",
        Capability.NOTEBOOK_URL: "example machines have no notebook to open",
        Capability.JOBS: "the example cloud runs no training jobs (`nbctl run`)",
    }

    def __init__(self, config: dict | None = None, owner: str = "nbctl"):
        super().__init__(config, owner)
        path = self.config.get("path")
        if not path:  # nbctl's data dir, made on first use
            from nbctl_cloud.config import data_dir
            path = data_dir() / "example-cloud.json"
        self.cloud = Cloud(Path(path), steps=int(self.config.get("boot_steps", 2)))

    def offers(self, gpu: str | None = None, count: int | None = None,
               spot: bool = False) -> list[Offer]:
        """The price list, cheapest first; nothing as spot. No network (there is none)."""
        return [] if spot else [
            Offer(provider=self.name, gpu=g, count=n, instance_type=kind, gpu_memory_gb=mem,
                  on_demand_hourly=usd, spot_hourly=None, price_date="2025-06-01",
                  source="the example cloud's price list")
            for g, n, kind, mem, usd in sorted(PRICES, key=lambda row: row[4])
            if gpu in (None, g) and count in (None, n)]

    def validate_spec(self, spec: InstanceSpec) -> None:
        if spec.gpu_count and not self.offers(spec.gpu, spec.gpu_count):
            raise UserError(f"the example cloud has no {spec.gpu}:{spec.gpu_count} machine: see "
                            f"`nbctl gpus --provider example`")

    def create(self, spec: InstanceSpec) -> Instance:
        """Make the machine with all of spec.labels; an existing name is returned as it is.
        A refused create (NO_CAPACITY) leaves nothing behind: the cloud makes nothing."""
        self.validate_spec(spec)
        kind = spec.gpu_count and self.offers(spec.gpu, spec.gpu_count)[0].instance_type
        machine = {"type": kind or "ex-cpu", "gpu": spec.gpu, "gpu_count": spec.gpu_count,
                   "labels": dict(spec.labels)}
        with _cloud_errors():
            return self._instance(self.cloud.create(spec.name, machine))

    def get(self, name: str) -> Instance | None:
        """The machine as the cloud describes it now, or None."""
        return self._instance(m) if (m := self.cloud.describe(name)) is not None else None

    def list(self, labels: dict[str, str] | None = None) -> list[Instance]:
        """Every machine carrying all these labels: one read of the cloud."""
        return [self._instance(m) for m in self.cloud.machines()
                if match_labels(m["labels"], labels)]

    def delete(self, name: str) -> None:
        """Delete it at once; a missing machine is no error."""
        self.cloud.destroy(name)

    def stop(self, name: str) -> None:
        """Ask it to halt; halted ones are left as they are."""
        with _cloud_errors():
            self.cloud.move(name, "halting")

    def start(self, name: str) -> None:
        """Ask it to boot; running ones are left as they are."""
        with _cloud_errors():
            self.cloud.move(name, "booting")

    def _instance(self, m: dict) -> Instance:
        return Instance(name=m["name"], provider=self.name, state=STATES[m["status"]],
                        native_id=m["id"], gpu=m["gpu"], gpu_count=m["gpu_count"],
                        labels=dict(m["labels"]), created_at=datetime.fromtimestamp(m["created"], timezone.utc))
