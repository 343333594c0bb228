"""The `nbctl` command: click commands only. Parse, call the core, print.

Start-up cost matters (`nbctl --help` should feel instant): this module imports click and
nothing heavy; the store (SQLAlchemy), providers and their SDKs load inside the commands
that need them.
"""
from __future__ import annotations

import os
import sys

import click

from .errors import EXIT_FAILED, EXIT_USAGE, NbctlError, UserError

OUTPUT = click.option("--output", "-o", "fmt", type=click.Choice(["table", "json"]),
                      default="table", show_default=True, help="Output format.")
WAIT = click.option("--wait/--no-wait", default=True, show_default=True,
                    help="Wait until the machine reaches the new state.")
TIMEOUT = click.option("--timeout", type=str, default="30m", show_default=True,
                       help="How long to wait, e.g. 10m.")

STATUS_COLUMNS = [("name", "NAME"), ("provider", "PROVIDER"), ("state", "STATE"),
                  ("gpu_label", "GPU"), ("zone", "ZONE"), ("preemptible", "SPOT"),
                  ("url", "URL")]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="nbctl", message="nbctl %(version)s")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
def cli(debug: bool) -> None:
    """GPU notebooks on GCP, AWS, Paperspace or this machine, from one CLI.

    \b
    Quick start (no cloud account needed):
      nbctl up demo            a Jupyter server on this machine
      nbctl open demo          its URL, with the access token
      nbctl down demo --yes
    """
    if debug:
        os.environ["NBCTL_DEBUG"] = "1"


def _store():
    from .store import Store
    return Store()


def _provider(name: str, need_sdk: bool = True):
    from .registry import get_provider
    return get_provider(name, need_sdk=need_sdk)


def show_notes(prov, fmt: str) -> list[str]:
    """Print the provider's notes to stderr (not in JSON mode); returns them for the JSON."""
    notes = prov.warnings
    if fmt != "json":
        for w in notes:
            click.echo(f"nbctl: note: {w}", err=True)
    return notes


def _provider_for(store, name: str):
    from .lifecycle import find
    return _provider(find(store, name).instance.provider)


def _seconds(text: str, what: str) -> float:
    from .spec import parse_duration
    return float(parse_duration(text, what=what))


def _row(d: dict) -> dict:
    d = dict(d)
    d["gpu_label"] = f"{d['gpu']}:{d['gpu_count']}" if d.get("gpu_count") else (d.get("gpu") or "none")
    return d


@cli.command()
@click.argument("name")
@click.option("--provider", "-p", default=None,
              help="local (default), gcp, aws, paperspace, or an installed plugin.")
@click.option("--gpu", "-g", default=None, help="GPU[:COUNT], e.g. t4, a100:2 (see `nbctl gpus`).")
@click.option("--preemptible", "--spot", is_flag=True, help="Use a spot/preemptible machine.")
@click.option("--region", default=None, help="Region to place the machine in.")
@click.option("--zone", "zones", multiple=True,
              help="Zone(s) to try in order, comma-separated or repeated.")
@click.option("--image", default=None, help="Machine image (default: the provider's ML image).")
@click.option("--disk-gb", type=click.IntRange(min=1), default=None, help="Boot disk size in GB.")
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
    from .config import load_config, owner
    from .plan import build_spec, split_zones
    from .registry import check_sdk

    provider_name = provider or load_config().get("default_provider") or "local"
    prov = _provider(provider_name, need_sdk=False)
    spec = build_spec(prov, name, gpu=gpu, preemptible=preemptible, region=region,
                      zones=split_zones(zones), image=image, disk_gb=disk_gb,
                      idle_timeout=idle_timeout, schedule_stop=schedule_stop,
                      schedule_start=schedule_start, tz=tz, owner=owner())
    wait_s = _seconds(timeout, "--timeout")
    from .output import Progress, emit
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
    from . import lifecycle

    progress = Progress(fmt)
    try:
        inst, created = lifecycle.up(prov, spec, store=_store(), wait=wait, timeout=wait_s,
                                     progress=progress)
    finally:
        progress.done()
    d = _row(inst.to_dict())
    d["created"] = created
    d["warnings"] = show_notes(prov, fmt)
    verb = "created" if created else "already exists"
    hint = f"\nopen it with: nbctl open {name}" if inst.state.value == "RUNNING" else ""
    emit(d, fmt, text=f"{name}: {verb}, {inst.state.value} on {inst.provider}"
                      f"{' in ' + inst.zone if inst.zone else ''}{hint}")


@cli.command()
@click.argument("name", required=False)
@click.option("--refresh", is_flag=True, help="Ask the clouds now (one list call per provider).")
@OUTPUT
def status(name, refresh, fmt):
    """Show instances as last seen (or, with --refresh, as the clouds see them now)."""
    from .output import emit
    store = _store()
    if refresh:
        from .config import owner
        from .lifecycle import refresh as reconcile
        names = {r.instance.provider for r in store.all()}
        if name:
            from .lifecycle import find
            names = {find(store, name).instance.provider}
        reconcile(store, {p: _provider(p) for p in sorted(names)}, owner())
    if name:
        from .lifecycle import find
        rec = find(store, name)
        d = _row(rec.to_dict())
        if rec.spec:
            d["spec"] = rec.spec.to_dict()
        lines = [f"{k}: {d.get(k) if d.get(k) not in (None, '') else '-'}" for k in
                 ("name", "provider", "state", "gpu_label", "zone", "preemptible", "backend",
                  "native_id", "url", "detail")]
        emit(d, fmt, text="\n".join(lines))
        return
    rows = [_row(r.to_dict()) for r in store.all()]
    emit(rows, fmt, columns=STATUS_COLUMNS, rows=rows)


@cli.command(name="list")
@click.option("--all", "show_all", is_flag=True, help="Include instances found deleted.")
@OUTPUT
def list_(show_all, fmt):
    """List the instances nbctl manages."""
    from .output import emit
    rows = [_row(r.to_dict()) for r in _store().all()
            if show_all or r.instance.state.value != "DELETED"]
    emit(rows, fmt, columns=STATUS_COLUMNS[:6], rows=rows)


def _transition(verb: str, name: str, wait: bool, timeout: str, fmt: str) -> None:
    from . import lifecycle
    from .output import Progress, emit
    wait_s = _seconds(timeout, "--timeout")
    store = _store()
    prov = _provider_for(store, name)
    progress = Progress(fmt)
    try:
        inst = getattr(lifecycle, verb)(prov, name, store=store, wait=wait, timeout=wait_s,
                                        progress=progress)
    finally:
        progress.done()
    state = inst.state.value if inst else "DELETED"
    emit({"name": name, "state": state}, fmt, text=f"{name}: {state}")


@cli.command()
@click.argument("name")
@WAIT
@TIMEOUT
@OUTPUT
def stop(name, wait, timeout, fmt):
    """Stop NAME, keeping its disk (no GPU charges while stopped)."""
    _transition("stop", name, wait, timeout, fmt)


@cli.command()
@click.argument("name")
@WAIT
@TIMEOUT
@OUTPUT
def start(name, wait, timeout, fmt):
    """Start a stopped NAME again."""
    _transition("start", name, wait, timeout, fmt)


@cli.command()
@click.argument("name")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@WAIT
@TIMEOUT
@OUTPUT
def down(name, yes, wait, timeout, fmt):
    """Delete NAME and its disk."""
    from . import lifecycle
    from .output import Progress, emit
    wait_s = _seconds(timeout, "--timeout")
    store = _store()
    prov = _provider_for(store, name)
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


@cli.command(name="open")
@click.argument("name")
@OUTPUT
def open_(name, fmt):
    """Print the URL that opens NAME's notebook (it may carry an access token)."""
    from .lifecycle import notebook_url
    from .output import emit
    store = _store()
    url = notebook_url(_provider_for(store, name), name)
    emit({"name": name, "url": url}, fmt, text=url)


@cli.command()
@click.option("--provider", "-p", default=None, help="Only this provider's offers.")
@click.option("--gpu", "-g", default=None, help="Only this GPU.")
@click.option("--spot", is_flag=True, help="Only offers available as spot, priced as spot.")
@OUTPUT
def gpus(provider, gpu, spot, fmt):
    """List GPU offers and list prices, cheapest first (offline)."""
    from .catalog import load_catalog
    from .output import emit
    catalog = load_catalog()
    if provider is not None:
        from .registry import names
        if provider not in names():
            raise UserError(f"unknown provider {provider!r}: use one of {', '.join(names())}")
    if gpu is not None:
        gpu = gpu.strip().lower()
    offers = catalog.offers(provider=provider, gpu=gpu, spot=spot)
    rows = [dict(o.to_dict(), price=o.hourly(spot)) for o in offers]
    cols = [("gpu", "GPU"), ("count", "N"), ("gpu_memory_gb", "GB"), ("provider", "PROVIDER"),
            ("backend", "BACKEND"), ("instance_type", "TYPE"),
            ("price", "SPOT $/H" if spot else "$/H"), ("spot_hourly", "SPOT $/H"),
            ("price_date", "PRICED")]
    if spot:
        cols.pop(7)
    emit(rows, fmt, columns=cols, rows=rows)


from . import cli_jobs, cli_policies  # noqa: E402,F401  (register their commands)


def _error_line(e: BaseException) -> str:
    msg = " ".join(str(e).split()) or type(e).__name__
    return f"nbctl: error: {msg}"


def main(argv: list[str] | None = None) -> int:
    """Entry point: one line per error, exit 0/1/2, tracebacks only with --debug."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("NBCTL_DEBUG") == "1"
    try:
        cli.main(args=args, prog_name="nbctl", standalone_mode=False)
        return 0
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.exceptions.Abort:
        click.echo("nbctl: aborted", err=True)
        return EXIT_FAILED
    except click.ClickException as e:
        ctx = getattr(e, "ctx", None)
        where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        click.echo(_error_line(click.ClickException(e.format_message())) + where, err=True)
        return EXIT_USAGE
    except NbctlError as e:
        if debug:
            import traceback
            traceback.print_exc()
        click.echo(_error_line(e), err=True)
        return e.exit_code
    except KeyboardInterrupt:
        click.echo("nbctl: interrupted", err=True)
        return 130
    except Exception as e:  # noqa: BLE001 - last resort: one line, not a traceback
        if debug:
            import traceback
            traceback.print_exc()
        click.echo(f"nbctl: internal error: {type(e).__name__}: {' '.join(str(e).split())} "
                   f"(run with --debug for details)", err=True)
        return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
