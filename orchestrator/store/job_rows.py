"""Jobs nbctl runs (the `jobs` table): where each stands, its lease, and its restart claims.

Several controllers may share one store; the lease and the restart claim are compare-and-set
UPDATEs, so each holds across processes and hosts, not just threads.
"""
from __future__ import annotations

import time

from sqlalchemy import insert, or_, select, update
from sqlalchemy.engine import Engine

from ..model import Job, JobSpec, JobState
from .schema import jobs

# What update_job may write: the lease and the restart count have their own verbs.
UPDATABLE = frozenset({"state", "exit_code", "detail", "started_at"})


class JobRows:
    """Store verbs over the `jobs` table."""

    engine: Engine

    def add_job(self, spec: JobSpec, provider: str) -> None:
        """Record a new job, STARTING with no restarts; its run_id must be new."""
        now = time.time()
        with self.engine.begin() as conn:
            conn.execute(insert(jobs).values(
                run_id=spec.run_id, instance=spec.instance.name, provider=provider,
                state=JobState.STARTING.value, spec_json=spec.to_json(), restarts=0,
                preemptions=0, created_at=now, updated_at=now))

    def job(self, run_id: str) -> Job | None:
        """The stored job `run_id`, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(select(jobs).where(jobs.c.run_id == run_id)).mappings().first()
        return _job(row) if row else None

    def jobs(self, active_only: bool = False) -> list[Job]:
        """Every stored job (only those not yet final, if asked), oldest first."""
        q = select(jobs).order_by(jobs.c.created_at)
        if active_only:
            q = q.where(jobs.c.state.in_([s.value for s in JobState if not s.final]))
        with self.engine.connect() as conn:
            return [_job(r) for r in conn.execute(q).mappings()]

    def update_job(self, run_id: str, **values) -> None:
        """Write `values` (state, exit_code, detail, started_at) and stamp updated_at.

        Raises ValueError naming any other column: leases and restarts go through their
        compare-and-set verbs."""
        unknown = sorted(set(values) - UPDATABLE)
        if unknown:
            raise ValueError(f"update_job cannot write {', '.join(unknown)}")
        if isinstance(values.get("state"), JobState):
            values["state"] = values["state"].value
        values["updated_at"] = time.time()
        with self.engine.begin() as conn:
            conn.execute(update(jobs).where(jobs.c.run_id == run_id).values(**values))

    def lease_job(self, run_id: str, holder: str, now: float, seconds: float) -> bool:
        """Take or renew the lease on `run_id` for `seconds` from `now`.

        True if `holder` now holds it: the lease was free, expired, or already its own."""
        with self.engine.begin() as conn:
            res = conn.execute(update(jobs).where(
                jobs.c.run_id == run_id,
                or_(jobs.c.lease_until.is_(None), jobs.c.lease_until < now,
                    jobs.c.lease_holder == holder),
            ).values(lease_holder=holder, lease_until=now + seconds))
            return res.rowcount == 1

    def release_job(self, run_id: str, holder: str) -> None:
        """Give up `holder`'s lease on `run_id` (someone else's: left alone)."""
        with self.engine.begin() as conn:
            conn.execute(update(jobs).where(jobs.c.run_id == run_id,
                                            jobs.c.lease_holder == holder)
                         .values(lease_holder=None, lease_until=None))

    def claim_restart(self, run_id: str, restarts: int, preempted: bool) -> bool:
        """Claim restart number `restarts + 1` of `run_id` and mark it RECOVERING.

        A compare-and-set on the restart count: of every caller that read `restarts`, in any
        process or host, exactly one gets True; a preemption also counts one more. A job
        that ended meanwhile (a user's cancel) is not claimed."""
        active = [s.value for s in JobState if not s.final]
        with self.engine.begin() as conn:
            res = conn.execute(update(jobs).where(jobs.c.run_id == run_id,
                                                  jobs.c.restarts == restarts,
                                                  jobs.c.state.in_(active)).values(
                restarts=restarts + 1, preemptions=jobs.c.preemptions + int(preempted),
                state=JobState.RECOVERING.value, updated_at=time.time()))
            return res.rowcount == 1


def _job(row) -> Job:
    return Job(JobSpec.from_json(row["spec_json"]), JobState(row["state"]), row["restarts"],
               row["preemptions"], row["exit_code"], row["detail"], row["created_at"],
               row["updated_at"], row["started_at"])
