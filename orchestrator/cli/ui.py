"""`nbctl ui`: the local web dashboard (the `ui` extra; nothing of it loads for other commands)."""
from __future__ import annotations

import click

from .common import AsciiInt


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but loopback is reachable by others.")
@click.option("--port", type=AsciiInt(0, 65535), default=0,
              help="Port to listen on (default: a free one).")
@click.option("--no-browser", is_flag=True, help="Print the URL; do not open a browser.")
def ui(host, port, no_browser):
    """Serve a dashboard of machines, jobs and money on this computer.

    It prints a URL with a random token, as Jupyter does; open it in a browser. Its buttons
    (stop, start, open, down, refresh) run the same steps as the commands."""
    if not host.strip():
        from ..errors import UserError
        raise UserError("--host is empty: give an address such as 127.0.0.1, or leave it out")
    from ..ui.server import serve
    serve(host.strip(), port, open_browser=not no_browser)


COMMANDS = [ui]
