"""up / stop / start / down / status as idempotent reconcile steps over one provider.

The provider's verbs return quickly; this module does the waiting (polling `get`), the zone
failover on CapacityError (cleaning up before moving on), the store bookkeeping, and the
one-lock-per-instance rule that keeps two nbctl processes (or the scheduler) from creating,
starting, stopping or deleting the same thing at once.
"""
from __future__ import annotations

import os
import time
from dataclasses import replace
from datetime import datetime, timezone
from typing import Callable

from . import log
from .errors import CapacityError, NbctlError, NotFound, Scope, UserError
from .model import LABEL_SPEC_HASH, Capability, Instance, InstanceSpec, State
from .provider import Provider
from .schedule import apply_schedule, remove_schedule
from .store import Record, Store

Progress = Callable[[str, State, float], None]
DEFAULT_TIMEOUT = 1800.0
PREEMPTED_RESTARTS = 3  # a spot machine preempted while `up` waits is started again this often
LOCK_SLACK = 300.0  # an instance lock's lease outlives its holder's own timeout by this much


class FailedState(NbctlError):
    """The instance settled in a state other than the one waited for."""


def _quiet(name: str, state: State, elapsed: float) -> None:
    pass


def poll_interval(provider: Provider) -> float:
    try:
        return float(os.environ["NBCTL_POLL_INTERVAL"])
    except (KeyError, ValueError):
        return provider.poll_interval


def find(store: Store, name: str) -> Record:
    rec = store.get(name)
    if rec is None:
        raise UserError(f"no instance named {name!r}: see `nbctl list`")
    return rec


def wait_for(provider: Provider, store: Store, name: str, targets: set[State], *,
             timeout: float = DEFAULT_TIMEOUT, progress: Progress = _quiet,
             restart_preempted: int = 0) -> Instance | None:
    """Poll `get` until the instance reaches one of targets; None means it is gone.

    restart_preempted: how many times a machine preempted before it reached RUNNING (a spot
    VM can be taken back while it boots) is started again instead of failing the wait."""
    start = since = time.monotonic()  # since: the last request this wait made
    interval = poll_interval(provider)
    grace = max(3 * interval, 10.0)
    moved = False  # a transitional state was seen since the last request
    restarts = 0
    awaiting_cloud = False  # the cloud restarts this preempted machine itself
    while True:
        inst = provider.get(name)
        state = inst.state if inst else State.DELETED
        if inst is not None:
            store.save(inst)
        now = time.monotonic()
        elapsed = now - start
        progress(name, state, elapsed)
        if state in targets:
            return inst
        moved = moved or not state.settled
        # Clouds report the old state for a moment after a request: a settled state other
        # than the target counts only once the machine was seen moving, or after a grace.
        current = moved or now - since > grace
        if state is State.FAILED:
            raise (provider.failure(inst) if inst else None) \
                or FailedState(_not_in(name, state, targets, inst))
        if state is State.PREEMPTED and State.RUNNING in targets \
                and provider.restarts_preempted:
            if not awaiting_cloud:
                log.get().warning("%s is preempted: %s restarts it itself when capacity "
                                  "returns (a start of it is refused); waiting", name,
                                  provider.name)
            awaiting_cloud = True
        elif current and state is State.PREEMPTED and State.RUNNING in targets \
                and restarts < restart_preempted and provider.supports(Capability.STOP_START):
            restarts += 1
            log.get().warning("%s was preempted before it was running; starting it again "
                              "(%d of %d)", name, restarts, restart_preempted)
            provider.start(name)
            since, moved = time.monotonic(), False
        elif current and state.settled:
            raise FailedState(_not_in(name, state, targets, inst))
        if elapsed > timeout and state is State.PREEMPTED and awaiting_cloud:
            raise CapacityError(f"{name} is still PREEMPTED after {int(elapsed)}s: "
                             f"{provider.name} restarts it once capacity returns in its zone; "
                             f"wait longer (`nbctl start {name} --timeout 2h`), or `nbctl down "
                             f"{name}` and `nbctl up` it again in another --zone")
        if elapsed > timeout:
            raise NbctlError(f"timed out after {int(elapsed)}s waiting for {name} (still "
                             f"{state.value}); check later with `nbctl status {name} --refresh`")
        time.sleep(interval)


def _not_in(name: str, state: State, targets: set[State], inst: Instance | None) -> str:
    why = f": {inst.detail}" if inst and inst.detail else ""
    return f"{name} is {state.value}, not {'/'.join(t.value for t in targets)}{why}"


def up(provider: Provider, spec: InstanceSpec, *, store: Store, wait: bool = True,
       timeout: float = DEFAULT_TIMEOUT, progress: Progress = _quiet) -> tuple[Instance, bool]:
    """Bring the named instance up; returns (instance, created). Creates at most one."""
    with instance_lock(store, spec.name, "up", timeout):
        rec = store.get(spec.name)
        if rec and rec.instance.provider != spec.provider and rec.instance.state is not State.DELETED:
            raise UserError(f"{spec.name!r} already names a {rec.instance.provider} instance: "
                            f"choose another name or `nbctl down {spec.name}` first")
        existing = provider.get(spec.name)
        created = existing is None or existing.state is State.DELETED
        if not created:
            _check_same_spec(existing, rec, spec)
            spec = _keep_policies(provider, rec, spec)
            if existing.state in (State.STOPPED, State.PREEMPTED):
                provider.require(Capability.STOP_START)
                provider.start(spec.name)
            store.save(existing, spec)
            inst = existing
        else:
            settle = (lambda: _settle_new(provider, store, spec, timeout, progress)) \
                if wait else None
            inst = _create_with_failover(provider, spec, store, settle)
        _apply_policies(provider, spec, store)
        if wait and not created:
            inst = wait_for(provider, store, spec.name, {State.RUNNING}, timeout=timeout,
                            progress=progress,
                            restart_preempted=PREEMPTED_RESTARTS if spec.preemptible else 0) \
                or inst
        return inst, created


def instance_lock(store: Store, name: str, command: str, timeout: float):
    """The one lock per instance taken by every verb that creates, starts, stops or deletes
    it: a second nbctl process (or the scheduler) waits for it, up to its own timeout, and then
    finds the work done instead of doing it again."""
    return store.lock(f"instance:{name}", ttl=timeout + LOCK_SLACK, wait=timeout,
                      what=f"`nbctl {command} {name}`")


def _settle_new(provider: Provider, store: Store, spec: InstanceSpec, timeout: float,
                progress: Progress) -> Instance | None:
    """Wait for a machine just made to run; one that failed is deleted again. A CapacityError
    (the cloud accepted it, then gave up for capacity) goes back to the failover."""
    try:
        return wait_for(provider, store, spec.name, {State.RUNNING}, timeout=timeout,
                        progress=progress,
                        restart_preempted=PREEMPTED_RESTARTS if spec.preemptible else 0)
    except FailedState as e:  # it never ran: do not leave a broken machine behind
        _cleanup(provider, store, spec.name)
        raise NbctlError(f"{e.message}; it was deleted again") from None
    except CapacityError:
        raise
    except NbctlError:  # the wait ended (a timeout) with the machine still coming up
        _apply_policies(provider, spec, store)
        raise


def _check_same_spec(existing: Instance, rec: Record | None, spec: InstanceSpec) -> None:
    have = existing.labels.get(LABEL_SPEC_HASH) or (rec.spec.spec_hash() if rec and rec.spec else None)
    if have and have != spec.spec_hash():
        was = (f" (it has --gpu {rec.spec.gpu}:{rec.spec.gpu_count}"
               f"{' --preemptible' if rec.spec.preemptible else ''})") if rec and rec.spec else ""
        raise UserError(f"{spec.name!r} exists with a different spec{was}: `nbctl down "
                        f"{spec.name}` first, or choose another name")


def _keep_policies(provider: Provider, rec: Record | None, spec: InstanceSpec) -> InstanceSpec:
    """`up` of an existing machine keeps its idle timeout (and records it as it is): say so
    when another was asked for."""
    if rec is None or rec.spec is None:
        return spec
    had = rec.spec.idle_timeout
    if spec.idle_timeout is not None and spec.idle_timeout != had:
        provider.note(f"{spec.name} exists, so its idle timeout is unchanged: change it with "
                      f"`nbctl idle {spec.name} --timeout DURATION`")
    return replace(spec, idle_timeout=had)


def _create_with_failover(provider: Provider, spec: InstanceSpec, store: Store,
                          settle: Callable[[], Instance | None] | None = None) -> Instance:
    """Create in the first allowed zone with capacity; `settle`, where given, waits for the
    machine made, and its CapacityError moves on to the next zone as a refused create does."""
    tried: list[str] = []
    skip_regions: set[str | None] = set()

    def no_capacity(zone: str | None, e: CapacityError) -> bool:
        """Clean up after a capacity failure in zone; False: no other zone may help."""
        log.get().warning("no capacity for %s in %s: %s", spec.name, zone, e.message)
        tried.append(f"{zone or provider.name}: {e.message}")
        _cleanup(provider, store, spec.name)
        if e.scope is Scope.REGION:
            skip_regions.add(provider.region_of(zone))
        return not (e.scope is Scope.GLOBAL or zone is None)

    for zone in provider.candidate_zones(spec):
        if zone is not None and provider.region_of(zone) in skip_regions:
            continue
        zspec = (spec.with_zone(zone) if zone else spec).stamped()
        log.get().info("create %s on %s zone=%s gpu=%s:%s spot=%s", spec.name, provider.name,
                       zone, spec.gpu, spec.gpu_count, spec.preemptible)
        try:
            inst = provider.create(zspec)
        except CapacityError as e:
            if no_capacity(zone, e):
                continue
            break
        except BaseException:
            # Whatever went wrong (auth, quota, Ctrl-C), leave nothing half-made behind.
            _cleanup(provider, store, spec.name)
            raise
        store.save(inst, zspec)
        if settle is None:
            return inst
        try:
            return settle() or inst
        except CapacityError as e:  # accepted, then given up for capacity (SageMaker's Failed)
            if not no_capacity(zone, e):
                break
    what = f"{spec.gpu}:{spec.gpu_count}" if spec.gpu_count else "a machine without GPU"
    raise CapacityError(f"no capacity for {what} on {provider.name} in any "
                        f"allowed zone ({'; '.join(tried)}): allow more zones with --zone, "
                        f"another --region, or another --provider")


def _cleanup(provider: Provider, store: Store, name: str) -> None:
    """Delete whatever a failed create left, and wait (bounded) until the cloud agrees."""
    log.get().info("cleaning up %s on %s", name, provider.name)
    try:
        provider.delete(name)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            inst = provider.get(name)
            if inst is None or inst.state is State.DELETED:
                break
            time.sleep(poll_interval(provider))
    except NbctlError:
        pass  # the original error matters more; `nbctl status --refresh` shows leftovers
    store.remove(name, provider.name)


def _apply_policies(provider: Provider, spec: InstanceSpec, store: Store) -> None:
    if spec.schedule is not None:
        apply_schedule(provider, spec.name, spec.schedule, store)


def stop(provider: Provider, name: str, *, store: Store, wait: bool = True,
         timeout: float = DEFAULT_TIMEOUT, progress: Progress = _quiet,
         reason: str = "user") -> Instance | None:
    """Stop NAME, keeping its disk; `reason` (user, schedule …, idle …) goes in the history."""
    return _transition("stop", provider, name, store, {State.STOPPED, State.PREEMPTED},
                       wait, timeout, progress, reason)


def start(provider: Provider, name: str, *, store: Store, wait: bool = True,
          timeout: float = DEFAULT_TIMEOUT, progress: Progress = _quiet,
          reason: str = "user") -> Instance | None:
    return _transition("start", provider, name, store, {State.RUNNING}, wait, timeout,
                       progress, reason)


def _transition(verb: str, provider: Provider, name: str, store: Store, targets: set[State],
                wait: bool, timeout: float, progress: Progress, reason: str) -> Instance | None:
    provider.require(Capability.STOP_START)
    with instance_lock(store, name, verb, timeout):  # the request only; the wait needs none
        log.get().info("%s %s on %s (%s)", verb, name, provider.name, reason)
        getattr(provider, verb)(name)
        store.record_event(name, verb, provider=provider.name, detail=reason)
        if not wait:  # nothing polls after this (a schedule): `list` shows what it did, and why
            inst = provider.get(name)
            if inst is not None:
                if reason != "user" and not inst.detail:
                    inst = replace(inst, detail=f"{verb}: {reason}")
                store.save(inst)
            return inst
    return wait_for(provider, store, name, targets, timeout=timeout, progress=progress)


def down(provider: Provider, name: str, *, store: Store, wait: bool = True,
         timeout: float = DEFAULT_TIMEOUT, progress: Progress = _quiet) -> None:
    with instance_lock(store, name, "down", timeout):
        remove_schedule(provider, name, store)
        log.get().info("delete %s on %s", name, provider.name)
        provider.delete(name)
        if wait:
            wait_for(provider, store, name, {State.DELETED}, timeout=timeout, progress=progress)
        store.remove(name, provider.name)


def record_preemptions(store: Store, provider: Provider, since: float) -> int:
    """Copy the cloud's own record of preemptions since then into the history, each once;
    returns how many were new. Nothing for a provider that keeps no such record."""
    if not provider.supports(Capability.PREEMPTION_RECORD):
        return 0
    known = {(e["name"], e["detail"]) for e in store.events(since=since)
             if e["kind"] == "preempted"}
    new = 0
    for p in provider.preemptions(datetime.fromtimestamp(since, timezone.utc)):
        detail = f"{p.source} at {p.at.astimezone(timezone.utc).isoformat()}"
        if (p.name, detail) not in known:
            store.record_event(p.name, "preempted", provider=provider.name,
                               state=State.PREEMPTED, detail=detail)
            known.add((p.name, detail))
            new += 1
    return new


def notebook_url(provider: Provider, name: str) -> str:
    provider.require(Capability.NOTEBOOK_URL)
    inst = provider.get(name)
    if inst is None:
        raise NotFound(f"{name} does not exist in {provider.name}: see `nbctl status --refresh`")
    if inst.state is not State.RUNNING:
        raise NbctlError(f"{name} is {inst.state.value}: `nbctl start {name}` first")
    return provider.notebook_url(name)
