"""`nbctl ui`'s server: a random token, a free port on 127.0.0.1 (unless --host), the URL printed
as Jupyter prints its own, and the browser opened through a private file, so the token never
goes on a command line."""
from __future__ import annotations

import errno
import os
import secrets
import socket
import sys
from pathlib import Path

from ..errors import UserError

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except (socket.gaierror, OSError) as e:
        sock.close()
        if isinstance(e, socket.gaierror) or e.errno == errno.EADDRNOTAVAIL:
            raise UserError(f"--host {host!r} is no address of this computer: give one of its "
                            f"IP addresses, or leave --host out for 127.0.0.1") from None
        raise UserError(f"cannot listen on {host}:{port} ({e.strerror}): choose another --port, "
                        f"or leave --port out for a free one") from None
    sock.listen(64)
    return sock


def allowed_hosts(host: str, port: int) -> set[str]:
    """The Host headers this server answers to: its loopback names, and --host's."""
    names = {"127.0.0.1", "localhost", "[::1]"}
    if host not in LOOPBACK:
        names.add(f"[{host}]" if ":" in host else host)
        if host in ("0.0.0.0", "::"):
            names |= {socket.gethostname(), socket.getfqdn()}
    return {f"{n.lower()}:{port}" for n in names}


def _open_browser(url: str, data_dir: Path) -> Path | None:
    """Open `url` through a 0600 file that redirects to it (the token stays off argv)."""
    import html
    import webbrowser
    path = data_dir / f"ui-{os.getpid()}.html"
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f'<!doctype html><meta http-equiv="refresh" content="0;url={html.escape(url)}">'
                f'<a href="{html.escape(url)}">nbctl ui</a>\n')
    try:
        webbrowser.open(path.as_uri())
    except Exception:  # noqa: BLE001 - no browser here: the printed URL is enough
        pass
    return path


def serve(host: str, port: int, open_browser: bool) -> None:
    """Run the dashboard until interrupted."""
    try:
        import uvicorn

        from .app import make_app
    except ImportError as e:
        raise UserError(f"`nbctl ui` needs the ui extra ({e.name} is missing): run "
                        f"`pip install '.[ui]'` in nbctl's folder") from None
    from ..config import data_dir
    from ..store import Store
    sock = _bind(host, port)
    store = Store()
    port = sock.getsockname()[1]
    if host not in LOOPBACK:
        print(f"nbctl: warning: serving on {host}:{port} over plain HTTP: anyone who can reach "
              f"it and learns the token controls your machines", file=sys.stderr)
    token = secrets.token_urlsafe(32)
    app = make_app(store, token, allowed_hosts(host, port), port)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    shown = f"[{shown}]" if ":" in shown else shown
    url = f"http://{shown}:{port}/?token={token}"
    print(f"nbctl ui: serving the dashboard; open it at\n    {url}\n(Ctrl-C stops it)",
          flush=True)
    redirect = _open_browser(url, data_dir()) if open_browser else None
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False,
                                           lifespan="off"))
    try:
        server.run(sockets=[sock])
    finally:
        app.actions.close()
        if redirect is not None:
            redirect.unlink(missing_ok=True)
