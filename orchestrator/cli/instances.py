"""Instance commands: up, status, list, stop, start, down, open, gpus."""
from __future__ import annotations

import sys

import click

from ..errors import UserError
from .common import (
    OUTPUT,
    STATUS_COLUMNS,
    TIMEOUT,
    WAIT,
    AsciiInt,
    chosen_provider,
    get_provider,
    open_store,
    provider_for,
    read_store,
    row,
    seconds,
    show_notes,
)


@click.command()
@click.argument("name")
@click.option("--provider", "-p", default=None,
              help="local (default), gcp, aws, paperspace, colab, or an installed plugin.")
@click.option("--gpu", "-g", default=None, help="GPU[:COUNT], e.g. t4, a100:2 (see `nbctl gpus`).")
@click.option("--preemptible", "--spot", is_flag=True, help="Use a spot/preemptible machine.")
@click.option("--region", default=None, help="Region to place the machine in.")
@click.option("--zone", "zones", multiple=True,
              help="Zone(s) to try in order, comma-separated or repeated.")
@click.option("--image", default=None, help="Machine image (default: the provider's ML image).")
@click.option("--disk-gb", type=AsciiInt(min=1), default=None, help="Boot disk size in GB.")
@click.option("--idle-timeout", default=None, help="Stop after this long idle, e.g. 45m.")
@click.option("--schedule-stop", default=None, help='Cron for stopping, e.g. "0 19 * * 1-5".')
@click.option("--schedule-start", default=None, help='Cron for starting, e.g. "0 8 * * 1-5".')
@click.option("--tz", default=None, help="IANA time zone of the schedule, e.g. Europe/Berlin.")
@click.option("--dry-run", is_flag=True, help="Validate and show the plan; create nothing.")
@WAIT
@TIMEOUT
@OUTPUT
def up(name, provider, gpu, preemptible, region, zones, image, disk_gb, idle_timeout,
       schedule_stop, schedule_start, tz, dry_run, wait, timeout, fmt):
    """Create (or start) notebook machine NAME and wait until it runs."""
    from ..config import load_config, owner
    from ..plan import build_spec, split_zones
    from ..registry import check_sdk

    prov = get_provider(chosen_provider(provider, load_config()), need_sdk=False)
    spec = build_spec(prov, name, gpu=gpu, preemptible=preemptible, region=region,
                      zones=split_zones(zones), image=image, disk_gb=disk_gb,
                      idle_timeout=idle_timeout, schedule_stop=schedule_stop,
                      schedule_start=schedule_start, tz=tz, owner=owner())
    wait_s = seconds(timeout, "--timeout")
    from ..output import Progress, emit
    if dry_run:
        offers = prov.offers(spec.gpu, spec.gpu_count, spec.preemptible) if spec.gpu_count else []
        d = {"spec": spec.to_dict(), "offer": offers[0].to_dict() if offers else None}
        price = offers[0].hourly(spec.preemptible) if offers else None
        what = (f"{offers[0].instance_type} at ${price}/h (list price of {offers[0].price_date})"
                if offers and price is not None else "no GPU")
        emit(d, fmt, text=f"would create {name} on {prov.name}: {spec.gpu}:{spec.gpu_count}"
                          f"{' spot' if spec.preemptible else ''}, {what}")
        return
    check_sdk(type(prov))
    from .. import lifecycle

    progress = Progress(fmt)
    try:
        inst, created = lifecycle.up(prov, spec, store=open_store(), wait=wait, timeout=wait_s,
                                     progress=progress)
    finally:
        progress.done()
    d = row(inst.to_dict())
    d["created"] = created
    d["warnings"] = show_notes(prov, fmt)
    verb = "created" if created else "already exists"
    from ..model import Capability
    hint = (f"\nopen it with: nbctl open {name}"
            if inst.state.value == "RUNNING" and prov.supports(Capability.NOTEBOOK_URL) else "")
    emit(d, fmt, text=f"{name}: {verb}, {inst.state.value} on {inst.provider}"
                      f"{' in ' + inst.zone if inst.zone else ''}{hint}")


@click.command()
@click.argument("name", required=False)
@click.option("--refresh", is_flag=True,
              help="Ask the clouds now (every provider at once; only changes are written).")
@OUTPUT
def status(name, refresh, fmt):
    """Show instances as last seen (or, with --refresh, as the clouds see them now)."""
    from ..output import emit
    if not name:  # the whole fleet: read (and reconciled) without loading SQLAlchemy if it can
        store = read_store()
        if refresh:
            from ..config import owner
            from ..fleet import refresh as reconcile
            providers = {p: get_provider(p) for p in sorted(store.states())}
            records = reconcile(store, providers, owner())
        else:
            records = store.all()
        rows = [row(r.to_dict()) for r in records]
        emit(rows, fmt, columns=STATUS_COLUMNS, rows=rows)
        return
    from ..lifecycle import find
    store = open_store()
    rec = find(store, name)
    if not refresh:
        _look_on_this_machine(store, rec.instance.provider, name)
    else:
        from ..config import owner
        from ..fleet import refresh as reconcile
        from ..lifecycle import record_preemptions
        providers = {rec.instance.provider: get_provider(rec.instance.provider)}
        reconcile(store, providers, owner())
        # one machine asked about: its preemptions from the cloud's own record too
        record_preemptions(store, providers[rec.instance.provider], since=rec.created_at)
    rec = find(store, name)  # as the refresh left it
    d = row(rec.to_dict())
    if rec.spec:
        d["spec"] = rec.spec.to_dict()
    seen = [e["detail"] for e in store.events(name) if e["kind"] == "preempted"]
    d["preemptions"] = f"{len(seen)} (last: {seen[-1]})" if seen else "0"
    lines = [f"{k}: {d.get(k) if d.get(k) not in (None, '') else '-'}" for k in
             ("name", "provider", "state", "gpu_label", "zone", "preemptible", "backend",
              "native_id", "url", "detail", "preemptions")]
    emit(d, fmt, text="\n".join(lines))


def _look_on_this_machine(store, provider: str, name: str) -> None:
    """A machine that is this computer (local) is asked directly: that costs no request, and
    a stop its idle agent made shows at once, with its reason (the agent cannot reach the
    store)."""
    from ..registry import provider_class
    if not provider_class(provider).shares_filesystem:
        return
    inst = get_provider(provider, need_sdk=False).get(name)
    if inst is not None:
        store.save(inst)


@click.command(name="list")
@click.option("--all", "show_all", is_flag=True, help="Include instances found deleted.")
@OUTPUT
def list_(show_all, fmt):
    """List the instances nbctl manages."""
    from ..output import emit
    rows = [row(r.to_dict()) for r in read_store().all()
            if show_all or r.instance.state.value != "DELETED"]
    emit(rows, fmt, columns=STATUS_COLUMNS[:6], rows=rows)


def _transition(verb: str, name: str, wait: bool, timeout: str, fmt: str) -> None:
    from .. import lifecycle
    from ..output import Progress, emit
    wait_s = seconds(timeout, "--timeout")
    store = open_store()
    prov = provider_for(store, name)
    progress = Progress(fmt)
    try:
        inst = getattr(lifecycle, verb)(prov, name, store=store, wait=wait, timeout=wait_s,
                                        progress=progress)
    finally:
        progress.done()
    state = inst.state.value if inst else "DELETED"
    emit({"name": name, "state": state}, fmt, text=f"{name}: {state}")


@click.command()
@click.argument("name")
@WAIT
@TIMEOUT
@OUTPUT
def stop(name, wait, timeout, fmt):
    """Stop NAME, keeping its disk (no GPU charges while stopped)."""
    _transition("stop", name, wait, timeout, fmt)


@click.command()
@click.argument("name")
@WAIT
@TIMEOUT
@OUTPUT
def start(name, wait, timeout, fmt):
    """Start a stopped NAME again."""
    _transition("start", name, wait, timeout, fmt)


@click.command()
@click.argument("name")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@WAIT
@TIMEOUT
@OUTPUT
def down(name, yes, wait, timeout, fmt):
    """Delete NAME and its disk."""
    from .. import lifecycle
    from ..output import Progress, emit
    wait_s = seconds(timeout, "--timeout")
    store = open_store()
    prov = provider_for(store, name)
    if not yes:
        if not sys.stdin.isatty():
            raise UserError(f"`nbctl down {name}` deletes its disk: add --yes to confirm")
        click.confirm(f"Delete {name} ({prov.name}) and its disk?", abort=True)
    progress = Progress(fmt)
    try:
        lifecycle.down(prov, name, store=store, wait=wait, timeout=wait_s, progress=progress)
    finally:
        progress.done()
    emit({"name": name, "state": "DELETED"}, fmt, text=f"{name}: deleted")


@click.command(name="open")
@click.argument("name")
@OUTPUT
def open_(name, fmt):
    """Print the URL that opens NAME's notebook.

    A managed notebook (Workbench, SageMaker) answers its cloud's signed-in URL. A VM's Jupyter
    listens on the VM's loopback only: `open` makes an SSH tunnel to it with the instance's
    own key, prints a http://127.0.0.1 URL, and keeps the tunnel until interrupted."""
    from ..lifecycle import notebook_url
    from ..output import emit
    from ..tunnel import SshRoute, Tunnel
    store = open_store()
    target = notebook_url(provider_for(store, name), name)
    if not isinstance(target, SshRoute):
        emit({"name": name, "url": target}, fmt, text=target)
        return
    with Tunnel(target) as tunnel:
        emit({"name": name, "url": tunnel.url, "tunnel": True}, fmt, text=tunnel.url)
        sys.stdout.flush()
        click.echo(f"nbctl: tunnel to {name} open; Ctrl-C closes it", err=True)
        try:
            tunnel.wait()
        except KeyboardInterrupt:
            pass


@click.command()
@click.option("--provider", "-p", default=None, help="Only this provider's offers.")
@click.option("--gpu", "-g", default=None, help="Only this GPU.")
@click.option("--spot", is_flag=True, help="Only offers available as spot, priced as spot.")
@OUTPUT
def gpus(provider, gpu, spot, fmt):
    """List GPU offers and list prices, cheapest first (offline): each provider's own offers."""
    from ..output import emit
    from ..registry import names
    if gpu is not None:
        gpu = gpu.strip().lower()
        if not gpu:
            raise UserError("invalid --gpu '': name a GPU such as t4, or leave --gpu out")
    offers = [o for p in ([provider] if provider is not None else names())
              for o in get_provider(p, need_sdk=False).offers(gpu, None, spot)]
    offers.sort(key=lambda o: (o.hourly(spot) is None, o.hourly(spot) or 0.0, o.provider,
                               o.instance_type))
    rows = [dict(o.to_dict(), price=o.hourly(spot)) for o in offers]
    cols = [("gpu", "GPU"), ("count", "N"), ("gpu_memory_gb", "GB"), ("provider", "PROVIDER"),
            ("backend", "BACKEND"), ("instance_type", "TYPE"),
            ("price", "SPOT $/H" if spot else "$/H"), ("spot_hourly", "SPOT $/H"),
            ("price_date", "PRICED")]
    if spot:
        cols.pop(7)
    emit(rows, fmt, columns=cols, rows=rows)


COMMANDS = [up, status, list_, stop, start, down, open_, gpus]
