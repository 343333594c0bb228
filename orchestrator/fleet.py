"""`status --refresh`: every provider listed at once, each in a process of its own, and the store
reconciled with what they said in one transaction that writes only what changed.

A listing is mostly CPU: importing the cloud's SDK, parsing hundreds of machines out of its
answers. Threads would run that one at a time under the interpreter lock; a process per provider
puts each cloud on a core of its own, and each starts its SDK import at once.

What a provider's listing must allow (Provider.list's docstring says the same): the provider
is rebuilt in the child as `type(provider)(provider.config, owner=provider.owner)`, with this
process's environment; there it runs `list` by nbctl's owner label, then `get` for each
stored name the listing did not show (a machine whose labels were lost is not called gone
while it runs). What comes back is plain data: each Instance as `Instance.to_dict()` in JSON,
or the error's class name, message and cloud error code. Nothing of a cloud SDK crosses to
this process. A provider whose listing fails is reported by name, after the others have been
reconciled.

Start method, measured on a busy 2-core machine (three children importing nbctl's provider
modules, from a parent holding SQLAlchemy): fork 0.13-0.22 s, forkserver 0.50-0.57 s, spawn
0.77-1.17 s. Fork is used where it is safe (Linux, and no other thread in this process: a lock
another thread held would stay held in the child), forkserver elsewhere where there is one,
else spawn.
"""
from __future__ import annotations

import gc
import json
import multiprocessing
import os
import sys
import threading
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING

from . import errors, log
from .errors import NbctlError
from .model import LABEL_OWNER, Instance, State
from .provider import Provider
from .store import Record
from .store.base import changed

if TYPE_CHECKING:  # pragma: no cover
    from .store import Store
    from .store.snapshot import Snapshot


@dataclass
class Listing:
    """One provider's answer: what it listed (plus stored names found by `get`), or why not."""

    provider: str
    instances: list[Instance] = field(default_factory=list)
    found_by_name: list[str] = field(default_factory=list)  # stored, not listed, but there
    error: NbctlError | None = None


class ListingFailed(NbctlError):
    """Some providers could not be listed; the others were reconciled all the same."""


def refresh(store: "Store | Snapshot", providers: dict[str, Provider],
            owner: str) -> list[Record]:
    """Reconcile the store with the clouds: one listing per provider, all at once, then one
    transaction writing only the rows that changed (store.reconcile's compare-and-set rules;
    a Snapshot opens the Store only then). Returns every stored record as it stands after.
    Raises ListingFailed, naming each provider that failed and why, once the others are
    written."""
    states = store.states()
    expected = {name: [n for n, state in states.get(name, {}).items()
                       if state is not State.DELETED] for name in providers}
    running = start_all(providers, {LABEL_OWNER: owner}, expected)
    try:
        records = store.all()  # while the clouds are asked
    finally:
        listings = collect(running)
    by_name = {r.instance.name: r for r in records}
    seen: list[tuple[Record | None, Instance]] = []
    for name, listing in listings.items():
        if listing.error is not None:
            continue
        for missing in listing.found_by_name:
            log.get().warning("%s was not in %s's listing of nbctl's labels, but exists",
                              missing, name)
        found = {i.name: i for i in listing.instances}
        for rec in records:
            if rec.instance.provider != name:
                continue
            inst = found.pop(rec.instance.name, None)
            if inst is None:
                inst = replace(rec.instance, state=State.DELETED,
                               detail="not found in the cloud")
            seen.append((rec, inst))
        # Made by this owner elsewhere (another laptop); a name another provider's row holds
        # keeps that row.
        seen += [(None, i) for i in found.values() if i.name not in by_name]
    differing = changed(seen)
    if differing:
        store.reconcile(differing)
    failed = [listing for listing in listings.values() if listing.error is not None]
    if failed:
        error = ListingFailed("; ".join(f"{f.provider}: {f.error.message}" for f in failed)
                              + ("" if len(failed) == len(listings) else
                                 " (the other providers were refreshed)"),
                              code=failed[0].error.code)
        error.exit_code = max(f.error.exit_code for f in failed)  # bad input (2) first
        raise error
    # Re-read where rows differed: what was written, or what another process wrote first.
    return store.all() if differing else records


@dataclass
class Running:
    """Listing processes started, by provider name, and the pipes their answers come on."""

    order: list[str]
    readers: dict[Connection, str] = field(default_factory=dict)
    children: dict = field(default_factory=dict)


def start_all(providers: dict[str, Provider], labels: dict[str, str],
              expected: dict[str, list[str]]) -> "Running":
    """Start every provider's listing process; `collect` waits for their answers."""
    ctx = multiprocessing.get_context(start_method())
    env = dict(os.environ)
    running = Running(list(providers))
    for name, p in providers.items():
        reader, writer = ctx.Pipe(duplex=False)
        child = ctx.Process(target=_child, name=f"nbctl-list-{name}", daemon=True,
                            args=(writer, type(p), p.config, p.owner, labels,
                                  expected.get(name, []), env))
        child.start()
        writer.close()  # the child holds the only writer: EOF when it ends
        running.readers[reader] = name
        running.children[name] = child
    return running


def collect(running: Running) -> dict[str, Listing]:
    """Each provider's Listing, in the order the providers were given, once all answered."""
    out: dict[str, Listing] = {}
    try:
        while running.readers:
            for reader in wait(list(running.readers)):
                name = running.readers.pop(reader)
                out[name] = _receive(name, reader, running.children[name])
    finally:
        for child in running.children.values():
            child.join(timeout=10)
            if child.is_alive():
                child.kill()
    return {name: out[name] for name in running.order}


def start_method() -> str:
    """fork where it is safe (Linux, one thread); else forkserver; else spawn."""
    methods = multiprocessing.get_all_start_methods()
    if sys.platform == "linux" and threading.active_count() == 1 and "fork" in methods:
        return "fork"
    return "forkserver" if "forkserver" in methods else "spawn"


def _receive(name: str, reader: Connection, child) -> Listing:
    try:
        data = json.loads(reader.recv_bytes())
    except (EOFError, OSError, ValueError):
        child.join(timeout=10)
        return Listing(name, error=NbctlError(
            f"its listing process ended without an answer (exit code {child.exitcode}); "
            f"run `nbctl --debug status --refresh` to see why"))
    finally:
        reader.close()
    if data.get("error"):
        kind, message, code = data["error"]
        cls = getattr(errors, kind, None)
        cls = cls if isinstance(cls, type) and issubclass(cls, NbctlError) else NbctlError
        return Listing(name, error=cls(message, code=code))
    return Listing(name, [Instance.from_dict(d) for d in data["instances"]],
                   data["found_by_name"])


def _child(writer: Connection, cls: type[Provider], config: dict, owner: str,
           labels: dict[str, str], expected: list[str], env: dict[str, str]) -> None:
    """In the child: list, look up what the listing missed, send back plain data."""
    # A listing lives seconds and its garbage goes with it: the collector would only walk, again
    # and again, what the SDK loads and parses and what the child inherited (about 0.3 s of CPU
    # of an EC2 listing's 1.2 s, with 300 instances).
    gc.disable()
    os.environ.clear()  # a forkserver's children would otherwise have its first environment
    os.environ.update(env)
    try:
        payload = json.dumps(_listing(cls, config, owner, labels, expected))
    except (TypeError, ValueError) as e:  # the provider returned something that is not data
        payload = json.dumps({"error": ["NbctlError", f"its listing is not plain data ({e})",
                                        None]})
    try:
        writer.send_bytes(payload.encode())
    finally:
        writer.close()


def _listing(cls: type[Provider], config: dict, owner: str, labels: dict[str, str],
             expected: list[str]) -> dict:
    provider = None
    try:
        provider = cls(config, owner=owner)
        found = {i.name: i for i in provider.list(labels)}
        by_name = []
        for name in expected:
            if name not in found:
                inst = provider.get(name)
                if inst is not None:
                    found[name] = inst
                    by_name.append(name)
        return {"instances": [i.to_dict() for i in found.values()], "found_by_name": by_name}
    except NbctlError as e:
        _debug()
        return {"error": [type(e).__name__, e.message, e.code]}
    except Exception as e:  # noqa: BLE001 - reported as this provider's failure, not a crash
        _debug()
        return {"error": ["NbctlError", f"internal error: {type(e).__name__}: {e} (run with "
                          f"--debug for details)", None]}
    finally:
        if provider is not None:
            provider.close()


def _debug() -> None:
    """With --debug, the child's traceback goes to the stderr it shares with nbctl."""
    if os.environ.get("NBCTL_DEBUG") == "1":
        import traceback
        traceback.print_exc()
