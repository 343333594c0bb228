"""Canonical GPU names -> each provider's offers (type, count, price), from configs/gpus.toml.

Reads a TOML file with the standard library only, so `nbctl gpus` works offline and fast.
"""
from __future__ import annotations

import importlib.resources
import math
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .errors import UserError
from .model import Offer

# configs/gpus.toml in the repository; installed as the data package nbctl_cloud.configs.
GPU_CATALOG = importlib.resources.files("nbctl_cloud.configs") / "gpus.toml"


@dataclass(frozen=True)
class Gpu:
    name: str
    model: str
    memory_gb: int


class Catalog:
    def __init__(self, gpus: dict[str, Gpu], offers: list[Offer]):
        self.gpus = gpus
        self.all_offers = offers

    @property
    def names(self) -> set[str]:
        return set(self.gpus)

    def offers(self, provider: str | None = None, gpu: str | None = None,
               count: int | None = None, spot: bool = False,
               backend: str | None = None) -> list[Offer]:
        """Matching offers, cheapest first; with spot=True only those offered as spot."""
        if gpu is not None and gpu != "none" and gpu not in self.gpus:
            raise UserError(f"unknown GPU {gpu!r}: use one of {', '.join(sorted(self.gpus))}")
        rows = [o for o in self.all_offers
                if (provider is None or o.provider == provider)
                and (gpu is None or o.gpu == gpu)
                and (count is None or o.count == count)
                and (backend is None or o.backend == backend)
                and (not spot or o.spot_hourly is not None)]
        return sorted(rows, key=lambda o: (o.hourly(spot) is None, o.hourly(spot) or 0.0,
                                           o.provider, o.instance_type))

    def cheapest(self, provider: str, gpu: str, count: int, spot: bool,
                 backend: str | None = None) -> Offer:
        """The offer to use, or a UserError naming the counts that exist."""
        found = self.offers(provider=provider, gpu=gpu, count=count, spot=spot, backend=backend)
        if found:
            return found[0]
        counts = sorted({o.count for o in self.offers(provider=provider, gpu=gpu, spot=spot,
                                                        backend=backend)})
        kind = "spot " if spot else ""
        if counts:
            raise UserError(f"{provider} has no {kind}{gpu} machine with {count} GPU(s): "
                            f"use --gpu {gpu}:N with N in {', '.join(map(str, counts))}")
        others = sorted({o.provider for o in self.offers(gpu=gpu, spot=spot)})
        hint = f"; {gpu} is offered by {', '.join(others)}" if others else ""
        raise UserError(f"{provider} offers no {kind}{gpu} machine{hint} (see `nbctl gpus --gpu {gpu}`)")


def _num(x) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def parse_catalog(data: dict) -> Catalog:
    gpus = {name: Gpu(name, g["model"], int(g["memory_gb"])) for name, g in data["gpus"].items()}
    sources = data.get("sources", {})
    offers = []
    for block in data.get("offer", []):
        for gpu, count, itype, accel, on_demand, spot, date, src, regions in block["rows"]:
            if gpu not in gpus:
                raise ValueError(f"catalog row names unknown GPU {gpu!r}")
            offers.append(Offer(
                provider=block["provider"], backend=block.get("backend"), gpu=gpu,
                count=int(count), instance_type=itype, accelerator=accel or None,
                gpu_memory_gb=gpus[gpu].memory_gb, on_demand_hourly=_num(on_demand),
                spot_hourly=_num(spot), price_date=date, source=sources.get(src, src),
                regions=tuple(regions)))
    return Catalog(gpus, offers)


@lru_cache(maxsize=4)
def load_catalog(path: str | None = None) -> Catalog:
    source = Path(path) if path is not None else GPU_CATALOG
    with source.open("rb") as f:
        return parse_catalog(tomllib.load(f))
