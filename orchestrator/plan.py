"""Turn `nbctl up` arguments into a provider and a validated InstanceSpec.

Every check here runs before anything is created and needs no network and no SDK, so bad
input fails in milliseconds with a one-line UserError/CapabilityError.
"""
from __future__ import annotations

from .catalog import load_catalog
from .errors import CapabilityError, UserError
from .model import Capability, InstanceSpec
from .provider import Provider
from .registry import get_provider, names
from .spec import parse_duration, parse_gpu, validate_disk, validate_place


def split_zones(values: tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    zones: list[str] = []
    for v in values or ():
        for z in str(v).split(","):
            z = z.strip()
            if not z:
                raise UserError(f"invalid --zone {v!r}: an empty zone name; list zones as "
                                f"us-central1-a,us-central1-b")
            if z not in zones:
                zones.append(z)
    return tuple(zones)


def no_offer(provider: Provider, gpu: str, count: int, spot: bool) -> str:
    """Why the provider has no offer for gpu:count, naming the counts and providers that have."""
    kind = "spot " if spot else ""
    counts = sorted({o.count for o in provider.offers(gpu, None, spot)})
    if counts:
        return (f"{provider.name} has no {kind}{gpu} machine with {count} GPU(s): use --gpu "
                f"{gpu}:N with N in {', '.join(map(str, counts))}")
    others = [name for name in names() if name != provider.name and _offers(name, gpu, spot)]
    hint = f"; {gpu} is offered by {', '.join(others)}" if others else ""
    return f"{provider.name} offers no {kind}{gpu} machine{hint} (see `nbctl gpus --gpu {gpu}`)"


def _offers(provider: str, gpu: str, spot: bool) -> bool:
    try:
        return bool(get_provider(provider, need_sdk=False).offers(gpu, None, spot))
    except UserError:  # a provider that cannot load has no offer to show
        return False


def build_spec(provider: Provider, name: str, *, gpu: str | None = None, preemptible: bool = False,
               region: str | None = None, zones: tuple[str, ...] = (), image: str | None = None,
               disk_gb: int | None = None, idle_timeout: str | None = None,
               schedule_stop: str | None = None, schedule_start: str | None = None,
               tz: str | None = None, owner: str = "nbctl",
               needs: tuple[Capability, ...] = ()) -> InstanceSpec:
    """The spec of a machine, checked without network. `needs`: capabilities the machine must
    have (a job needs JOBS), refused with the provider's own sentence before other checks."""
    if provider.no_machines and Capability.JOBS not in needs:
        raise CapabilityError(provider.no_machines)
    provider.validate_name(name)
    gpu_name, count = parse_gpu(gpu, load_catalog().names)
    if preemptible:
        provider.require(Capability.SPOT)
    if count:
        if not provider.offers(gpu_name, count, preemptible):
            raise UserError(no_offer(provider, gpu_name, count, preemptible))
    elif provider.needs_gpu:
        raise UserError(f"{provider.name} needs a GPU: add --gpu, e.g. --gpu t4 "
                        f"(see `nbctl gpus --provider {provider.name}`)")
    for z in zones:
        validate_place(z, "--zone", "us-central1-a")
    if region is not None:
        validate_place(region, "--region", "us-central1")
    idle = parse_duration(idle_timeout, what="--idle-timeout") if idle_timeout is not None \
        else None
    from .schedule import check_schedule, make_schedule  # the store loads only when needed

    schedule = make_schedule(schedule_stop, schedule_start, tz)
    if schedule is not None:
        check_schedule(provider, schedule)
    if idle:
        provider.require(Capability.NATIVE_IDLE_SHUTDOWN)
    spec = InstanceSpec(name=name, provider=provider.name, gpu=gpu_name, gpu_count=count,
                        preemptible=preemptible, region=region, zones=zones, image=image,
                        disk_gb=validate_disk(disk_gb), idle_timeout=idle, schedule=schedule,
                        owner=owner)
    for cap in needs:
        provider.require(cap, spec)
    provider.validate_spec(spec)
    return spec
