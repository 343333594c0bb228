"""`nbctl providers`: which providers are installed and what each can do, in its own words."""
from __future__ import annotations

import click

from ..errors import UserError
from .common import OUTPUT


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


COMMANDS = [providers]
