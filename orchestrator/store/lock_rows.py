"""Named locks across processes, and across hosts on a shared database (the `locks` table)."""
from __future__ import annotations

import os
import socket
import time
from contextlib import contextmanager
from typing import Iterator

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from ..errors import BusyError
from .schema import locks

LOCK_POLL = 0.1  # seconds between tries while waiting for a lock


def process_holder() -> str:
    """This process's name as a lock or lease holder: host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


class LockRows:
    """Store verbs over the `locks` table."""

    engine: Engine

    @contextmanager
    def lock(self, key: str, ttl: float = 1800.0, what: str = "",
             wait: float = 0.0) -> Iterator[None]:
        """Hold a named lock across processes (and hosts, on a shared database).

        Raises BusyError if a live holder still has it after `wait` seconds (at once by
        default); a holder whose process is gone, or whose lease expired, is taken over."""
        holder = process_holder()
        deadline = time.monotonic() + wait
        while True:
            try:
                self._acquire(key, holder, ttl, what)
                break
            except BusyError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(LOCK_POLL)
        try:
            yield
        finally:
            with self.engine.begin() as conn:
                conn.execute(delete(locks).where(locks.c.key == key, locks.c.holder == holder))

    def _acquire(self, key: str, holder: str, ttl: float, what: str) -> None:
        for _ in range(3):
            now = time.time()
            try:
                with self.engine.begin() as conn:
                    conn.execute(insert(locks).values(key=key, holder=holder, acquired_at=now,
                                                      expires_at=now + ttl))
                return
            except IntegrityError:
                with self.engine.begin() as conn:
                    row = conn.execute(select(locks).where(locks.c.key == key)).mappings().first()
                    if row is None:
                        continue
                    if row["expires_at"] > now and _holder_alive(row["holder"]):
                        pid = row["holder"].rsplit(":", 1)[-1]
                        raise BusyError(f"{what or key} is in progress in another nbctl process "
                                        f"(pid {pid}); wait for it to finish, then run "
                                        f"`nbctl status`")
                    conn.execute(delete(locks).where(locks.c.key == key,
                                                     locks.c.holder == row["holder"]))
        raise BusyError(f"could not take the lock for {what or key}; try again")


def _holder_alive(holder: str) -> bool:
    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname():
        return True  # another host: trust the lease's expiry
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True
