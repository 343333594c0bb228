"""`nbctl providers`: which providers are installed and what each can do, in its own words."""
from __future__ import annotations

import click

from ..errors import UserError
from .common import OUTPUT, get_provider


@click.command()
@click.argument("name", required=False)
@OUTPUT
def providers(name, fmt):
    """List the providers (built in and plugins), or what provider NAME can and cannot do."""
    from .. import registry
    from ..output import emit
    from ..provider import describe_capabilities
    if name:
        cls = registry.provider_class(name)
        rows = describe_capabilities(cls)
        emit({"name": name, "needs_gpu": cls.needs_gpu, "capabilities": rows}, fmt,
             columns=[("capability", "CAPABILITY"), ("supported", "YES"), ("note", "WHY NOT")],
             rows=rows)
        return
    rows = []
    for pname in registry.names():
        cls = registry.provider_class(pname)
        try:
            registry.check_sdk(cls)
            ready = "yes"
        except UserError:
            ready = (f"no: pip install '{registry.install_source()}[{cls.extra}]'" if cls.extra
                     else "no: install its package")
        rows.append({"name": pname, "needs_gpu": cls.needs_gpu, "ready": ready,
                     "capabilities": ", ".join(sorted(c.value for c in cls.capabilities))})
    emit(rows, fmt, columns=[("name", "PROVIDER"), ("needs_gpu", "NEEDS GPU"),
                             ("capabilities", "CAPABILITIES"), ("ready", "SDK INSTALLED")],
         rows=rows)


@click.command()
@click.option("--provider", "-p", "provider_name", default="kaggle", show_default=True)
@OUTPUT
def quota(provider_name, fmt):
    """Show what is left of a provider's accelerator quota, as the cloud reports it."""
    from ..errors import CapabilityError
    from ..output import emit
    rows = get_provider(provider_name).quota()
    if rows is None:
        raise CapabilityError(f"{provider_name} reports no accelerator quota to nbctl: see its "
                              "console for its limits")
    emit(rows, fmt, rows=rows, columns=[
        ("kind", "KIND"), ("used_hours", "USED H"), ("reserved_hours", "RUNNING H"),
        ("allowed_hours", "ALLOWED H"), ("left_hours", "LEFT H"), ("refreshes_at", "REFRESHES")])


COMMANDS = [providers, quota]
