"""The dashboard's buttons: each runs the same core call as its CLI command, in the background,
so a page never waits on a cloud; what each last did is kept to be shown beside it."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from .. import fleet, lifecycle, log
from ..errors import NbctlError
from ..store import Store

VERBS = ("stop", "start", "down")


class Actions:
    """Machine verbs and the reconcile, run on a few threads over one store."""

    def __init__(self, store: Store):
        self.store = store
        self.pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="nbctl-ui")
        self.lock = threading.Lock()
        self.last: dict[str, str] = {}  # machine name -> what its last action did
        self.refresh_state = "never run from here"
        self.refreshing = False
        self.tunnels: dict[str, object] = {}  # machine name -> open SSH tunnel

    def _provider(self, name: str):
        from ..registry import get_provider
        return get_provider(lifecycle.find(self.store, name).instance.provider)

    def machine(self, verb: str, name: str) -> None:
        """Start `nbctl stop|start|down NAME` (down: --yes, the page asked already)."""
        if verb not in VERBS:
            raise ValueError(verb)
        provider = self._provider(name)  # an unknown name fails here, in the request
        with self.lock:
            self.last[name] = f"{verb}: running since {time.strftime('%H:%M:%S')}"
        self.pool.submit(self._run, verb, provider, name)

    def _run(self, verb: str, provider, name: str) -> None:
        try:
            getattr(lifecycle, verb)(provider, name, store=self.store, wait=True)
            said = f"{verb}: done at {time.strftime('%H:%M:%S')}"
        except NbctlError as e:
            said = f"{verb} failed: {e}"
        except Exception as e:  # noqa: BLE001 - shown on the page, as the CLI's last resort
            said = f"{verb} failed: {type(e).__name__}: {e}"
        finally:
            provider.close()
        log.get().info("ui: %s %s: %s", verb, name, said)
        with self.lock:
            self.last[name] = said

    def open_url(self, name: str) -> str:
        """`nbctl open NAME`: the notebook's URL; a VM's through a tunnel kept while the
        dashboard runs."""
        from ..tunnel import SshRoute, Tunnel
        provider = self._provider(name)
        try:
            target = lifecycle.notebook_url(provider, name)
        finally:
            provider.close()
        if not isinstance(target, SshRoute):
            return target
        with self.lock:
            tunnel = self.tunnels.get(name)
            if tunnel is None or tunnel.proc.poll() is not None:  # none yet, or ssh ended
                tunnel = self.tunnels[name] = Tunnel(target).__enter__()
        return tunnel.url

    def refresh(self) -> bool:
        """Start `nbctl status --refresh` (one list per provider) unless one is running."""
        with self.lock:
            if self.refreshing:
                return False
            self.refreshing = True
            self.refresh_state = f"running since {time.strftime('%H:%M:%S')}"
        self.pool.submit(self._refresh)
        return True

    def _refresh(self) -> None:
        from ..config import owner
        from ..registry import get_provider
        providers = {}
        try:
            names = sorted({r.instance.provider for r in self.store.all()})
            providers = {p: get_provider(p) for p in names}
            fleet.refresh(self.store, providers, owner())
            said = f"done at {time.strftime('%H:%M:%S')}"
        except Exception as e:  # noqa: BLE001 - shown on the page
            said = f"failed at {time.strftime('%H:%M:%S')}: {e}"
        finally:
            for p in providers.values():
                p.close()
        with self.lock:
            self.refreshing, self.refresh_state = False, said

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        with self.lock:
            for tunnel in self.tunnels.values():
                tunnel.close()
            self.tunnels.clear()
