"""What every command module shares: the common options and the small helpers that reach the
store and the providers. Public names only; nothing here imports more than click at start-up."""
from __future__ import annotations

import re

import click


class AsciiInt(click.IntRange):
    """A whole-number option in ASCII digits only (click's int() also takes '１' or '٣')."""

    name = "integer"

    def convert(self, value, param, ctx):
        if isinstance(value, str) and not re.fullmatch(r"[+-]?[0-9]{1,12}", value.strip()):
            self.fail(f"{value!r} is not a whole number in ASCII digits", param, ctx)
        return super().convert(value, param, ctx)


OUTPUT = click.option("--output", "-o", "fmt", type=click.Choice(["table", "json"]),
                      default="table", show_default=True, help="Output format.")
WAIT = click.option("--wait/--no-wait", default=True, show_default=True,
                    help="Wait until the machine reaches the new state.")
TIMEOUT = click.option("--timeout", type=str, default="30m", show_default=True,
                       help="How long to wait, e.g. 10m.")

STATUS_COLUMNS = [("name", "NAME"), ("provider", "PROVIDER"), ("state", "STATE"),
                  ("gpu_label", "GPU"), ("zone", "ZONE"), ("preemptible", "SPOT"),
                  ("url", "URL")]


def open_store():
    """The state store (SQLAlchemy loads here, not at start-up)."""
    from ..store import Store
    return Store()


def read_store():
    """For commands that only read instances (and a refresh): a Snapshot of a SQLite store at
    this schema, which loads no SQLAlchemy unless it must write; else the Store."""
    from ..store.snapshot import Snapshot
    return Snapshot.open() or open_store()


def get_provider(name: str, need_sdk: bool = True):
    """A configured provider by name (its SDK is only checked, never imported, here); its
    clients are closed when the command ends."""
    from .. import registry
    provider = registry.get_provider(name, need_sdk=need_sdk)
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.find_root().call_on_close(provider.close)
    return provider


def chosen_provider(option: str | None, config: dict) -> str:
    """--provider, else the configured default, else local; an empty --provider is refused."""
    if option is not None and not option.strip():
        from ..errors import UserError
        raise UserError("--provider is empty: name one, e.g. --provider local (see "
                        "`nbctl providers`), or leave it out for the default")
    return option or config.get("default_provider") or "local"


def provider_cache(need_sdk: bool = True):
    """A get_provider that makes each provider once, for commands that serve many machines."""
    made: dict = {}

    def provider(name: str):
        if name not in made:
            made[name] = get_provider(name, need_sdk=need_sdk)
        return made[name]

    return provider


def show_notes(prov, fmt: str) -> list[str]:
    """Print the provider's notes to stderr (not in JSON mode); returns them for the JSON."""
    notes = prov.warnings
    if fmt != "json":
        for w in notes:
            click.echo(f"nbctl: note: {w}", err=True)
    return notes


def provider_for(store, name: str):
    """The provider of the stored instance NAME (a UserError if nbctl has none)."""
    from ..lifecycle import find
    return get_provider(find(store, name).instance.provider)


def seconds(text: str, what: str) -> float:
    from ..spec import parse_duration
    return float(parse_duration(text, what=what))


def row(d: dict) -> dict:
    from ..output import status_row
    return status_row(d)


