"""`nbctl cost`: hours and money per instance from the store's history and the providers' offers.

Billed time is the time spent PROVISIONING, RUNNING or STOPPING as nbctl observed it. Time
saved is the time an instance spent stopped after a stop that a schedule or the idle rule made,
until the next start (or until now): hours it would otherwise have run.
"""
from __future__ import annotations

import json
import time
from typing import Callable

from .errors import UserError
from .provider import Provider

BILLED = {"PENDING", "PROVISIONING", "RUNNING", "STOPPING"}


def _reason(event: dict) -> str | None:
    detail = (event.get("detail") or "").lower()
    if event["kind"] == "stop" and detail.startswith("schedule"):
        return "schedule"
    if "idle" in detail and (event["kind"] == "stop" or event.get("state") == "STOPPED"):
        return "idle"
    return None


Price = Callable[[str, "str | None", int, bool, "str | None"], "float | None"]


def offer_prices() -> Price:
    """Hourly list prices as each provider's own `offers()` gives them (a plugin prices its
    machines itself); None where a provider has no such offer or cannot be loaded."""
    from .registry import get_provider
    providers: dict[str, Provider | None] = {}

    def price(provider: str, gpu: str | None, count: int, spot: bool,
              backend: str | None = None) -> float | None:
        if not gpu or gpu == "none" or not count:
            return 0.0
        if provider not in providers:
            try:
                providers[provider] = get_provider(provider, need_sdk=False)
            except UserError:
                providers[provider] = None
        prov = providers[provider]
        if prov is None:
            return None
        offers = [o for o in prov.offers(gpu, count, spot) if backend in (None, o.backend)]
        return offers[0].hourly(spot) if offers else None

    return price


def _machine(evs: list[dict]) -> dict:
    for e in evs:
        if e["kind"] == "created" and e.get("detail"):
            try:
                return json.loads(e["detail"])
            except ValueError:
                pass
    return {}


def summarize(events: list[dict], specs: dict[str, dict], since: float,
              now: float | None = None, price: Price | None = None) -> list[dict]:
    """One row per instance seen in the window, priced by `price` (default: offer_prices)."""
    now = time.time() if now is None else now
    hourly_price = price or offer_prices()
    by_name: dict[str, list[dict]] = {}
    for e in sorted(events, key=lambda e: (e["at"], e.get("id") or 0)):
        by_name.setdefault(e["name"], []).append(e)
    rows = []
    for name, evs in sorted(by_name.items()):
        state, state_at = None, since
        saving, saving_at = None, since
        billed = saved_schedule = saved_idle = 0.0
        provider = next((e["provider"] for e in evs if e.get("provider")), None)
        for e in evs:
            at = max(e["at"], since)
            reason = _reason(e)
            if reason:
                saving, saving_at = reason, at
            if e["kind"] in ("created", "state", "deleted") and e.get("state"):
                if state in BILLED:
                    billed += at - state_at
                if saving and state == "STOPPED" and e["state"] != "STOPPED":
                    if saving == "schedule":
                        saved_schedule += at - saving_at
                    else:
                        saved_idle += at - saving_at
                    saving = None
                state, state_at = e["state"], at
                if state == "STOPPED" and saving:
                    saving_at = max(saving_at, at)
        if state in BILLED:
            billed += now - state_at
        if saving and state == "STOPPED":
            if saving == "schedule":
                saved_schedule += now - saving_at
            else:
                saved_idle += now - saving_at
        machine = _machine(evs)
        spec = specs.get(name) or machine
        price = hourly_price(provider or spec.get("provider", ""), spec.get("gpu"),
                             spec.get("gpu_count", 0), bool(spec.get("preemptible")),
                             machine.get("backend"))
        hours = billed / 3600
        saved_h = (saved_schedule + saved_idle) / 3600
        rows.append({
            "name": name, "provider": provider, "hours": round(hours, 4),
            "hourly": price, "cost": None if price is None else round(hours * price, 2),
            "saved_hours_schedule": round(saved_schedule / 3600, 4),
            "saved_hours_idle": round(saved_idle / 3600, 4),
            "saved": None if price is None else round(saved_h * price, 2),
        })
    return rows


def report(store, window: float, now: float | None = None, price: Price | None = None,
           provider_for: Callable | None = None, hosted: bool = True) -> list[dict]:
    """`nbctl cost --since WINDOW`: the rows of the instances that ran or were kept stopped by
    a schedule or the idle rule in the last `window` seconds before `now`, and (with `hosted`)
    those of the hosted jobs active then. provider_for(name) gives a provider (default: each
    made here without its SDK, and closed again)."""
    from .hosted_jobs import cost_rows
    now = time.time() if now is None else now
    specs = {r.instance.name: r.spec.to_dict() for r in store.all() if r.spec}
    rows = summarize([e for e in store.events(since=0.0) if e["at"] <= now], specs,
                     since=now - window, now=now, price=price)
    if hosted:
        made: dict[str, Provider] = {}

        def made_here(name: str) -> Provider:
            from .registry import get_provider
            if name not in made:
                made[name] = get_provider(name, need_sdk=False)
            return made[name]

        try:  # Kaggle's quota hours, at $0
            rows += cost_rows(store, now - window, provider_for or made_here)
        finally:
            for p in made.values():
                p.close()
    return [r for r in rows if r["hours"] or r["saved_hours_schedule"] or r["saved_hours_idle"]]


def per_day(store, days: int, now: float | None = None) -> list[dict]:
    """`report` over each of the last `days` local calendar days (today so far last): one
    {"day", "rows"} each, priced once for all."""
    from datetime import datetime, timedelta
    now = time.time() if now is None else now
    price = offer_prices()
    midnight = datetime.fromtimestamp(now).replace(hour=0, minute=0, second=0, microsecond=0)
    out = []
    for back in range(days - 1, -1, -1):
        start = midnight - timedelta(days=back)
        end = min((start + timedelta(days=1)).timestamp(), now)
        out.append({"day": start.date().isoformat(),  # hosted jobs' hours cost $0: left out
                    "rows": report(store, end - start.timestamp(), now=end, price=price,
                                   hosted=False)})
    return out
