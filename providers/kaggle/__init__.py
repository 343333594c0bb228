"""The Kaggle provider: long training on Kaggle's GPUs, carried across its session limit and its
weekly GPU quota, as `nbctl run NAME --provider kaggle --gpu t4 -- python train.py`.

Kaggle has an API for script kernels, not for interactive sessions: this provider makes no
machines (`nbctl up` is refused) and runs each attempt of a job as a new version of one private
script kernel, `<user>/<run id>`, through kagglesdk (client.py). A version carries nbctl's
kernel-side runtime, the carried runtime and the working directory in its one source file
(script.py, nbctl_cloud.runtime.kaggle_session). It runs the command until, ahead of the
session's limit or of the end of the GPU quota left, nbctl's runtime gives it the usual SIGTERM
notice; the next version attaches the kernel's own output (its checkpoints) as an input and
resumes from the last complete checkpoint. A version is pushed only when the quota left (read
from Kaggle's quota call, never assumed) covers more than the stop margin; else the job waits,
saying when the quota refreshes.

The job's own files (the packed working directory, the runtime, and a copy of each attempt's
status and log once its session has ended) live on this computer, in nbctl's data folder:
`--checkpoint-url` is refused, since nbctl puts no cloud credentials in what it pushes.
A version is cancelled with the API's CancelKernelSession (the kaggle CLI has no cancel
command); the kernel and its versions' outputs stay on Kaggle, as they do for the kaggle CLI.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, ClassVar

from nbctl_cloud.errors import CapabilityError, UserError
from nbctl_cloud.model import Capability, Instance, InstanceSpec, JobSpec, Offer
from nbctl_cloud.provider import HostedJobs, Provider

from . import records
from .settings import Settings, credentials

if TYPE_CHECKING:  # pragma: no cover
    from .client import KaggleApi, Quota

# machineShape for each GPU of nbctl's catalog (kaggle-cli docs/kernels.md, accelerators): the
# shape decides how many GPUs come with it (NvidiaTeslaT4 is "GPU T4 x2").
SHAPES = {"t4": "NvidiaTeslaT4", "l4": "NvidiaL4X1", "a100": "NvidiaTeslaA100",
          "h100": "NvidiaH100"}
NO_MACHINES = ("Kaggle has no API for interactive sessions: run your command as a job, e.g. "
               "`nbctl run NAME --provider kaggle --gpu t4 -- python train.py`")


class KaggleProvider(Provider, HostedJobs):
    name = "kaggle"
    extra = "kaggle"
    sdk_modules = ("kagglesdk",)
    needs_gpu = False  # a job without --gpu runs on Kaggle's CPU sessions (no quota)
    no_machines = NO_MACHINES
    reasons: ClassVar[dict] = {
        Capability.SPOT: ("Kaggle sessions are free and not preemptible: drop --preemptible "
                          "(nbctl carries the job across Kaggle's session limit by itself)"),
        Capability.STOP_START: NO_MACHINES,
        Capability.NATIVE_IDLE_SHUTDOWN: NO_MACHINES,
        Capability.NATIVE_SCHEDULE: NO_MACHINES,
        Capability.NOTEBOOK_URL: NO_MACHINES,
        Capability.PREEMPTION_RECORD: "Kaggle sessions end at their limit, never preempted",
    }
    # The kernel's slug is the run id (name-YYYYmmdd-HHMMSS-xxxxxx): Kaggle's slugs hold 50.
    name_pattern = r"[a-z]([-a-z0-9]{0,24}[a-z0-9])?"
    name_rule = ("1-26 characters: lowercase letters, digits and hyphens, starting with a "
                 "letter and not ending with a hyphen")
    poll_interval: ClassVar[float] = 10.0

    def __init__(self, config: dict | None = None, owner: str = "nbctl"):
        super().__init__(config, owner)
        self.settings = Settings.load(self.config)
        self._api: "KaggleApi | None" = None

    @property
    def api(self) -> "KaggleApi":
        if self._api is None:
            from .client import KaggleApi
            self._api = KaggleApi(self.settings, credentials(self.settings))
        return self._api

    # -- the core verbs: Kaggle makes no machines ----------------------------------------------
    def offers(self, gpu: str | None = None, count: int | None = None,
               spot: bool = False) -> list[Offer]:
        """Kaggle's accelerators in nbctl's catalog, $0 (free within the weekly quota). A shape
        comes with its own number of GPUs: `--gpu t4` is Kaggle's T4 x2."""
        if spot:
            return []
        found = self.catalog_offers(gpu)
        return [o for o in found if not count or count in (1, o.count)]

    def create(self, spec: InstanceSpec) -> Instance:
        raise CapabilityError(NO_MACHINES)

    def get(self, name: str) -> Instance | None:
        return None

    def list(self, labels: dict[str, str] | None = None) -> list[Instance]:
        return []

    def delete(self, name: str) -> None:
        return None

    def close(self) -> None:
        if self._api is not None:
            self._api.close()
            self._api = None

    # -- jobs ---------------------------------------------------------------------------------
    def job_storage(self) -> str:
        from nbctl_cloud.config import data_dir
        return str(data_dir() / "kaggle")

    def check_job(self, job: JobSpec) -> None:
        if job.checkpoint_url != self.job_storage():
            raise UserError("--checkpoint-url does not apply to Kaggle: nbctl puts no cloud "
                            "credentials in what it pushes, so checkpoints live in the kernel's "
                            "output and come back as the next version's input; drop it")
        if job.restart_on_failure:
            raise UserError("on Kaggle a failed version ends the job (a retry would spend the "
                            "GPU quota again on the same error): drop --restart-on-failure")
        if job.instance.gpu not in (None, "none") and job.instance.gpu not in SHAPES:
            raise UserError(f"Kaggle has no {job.instance.gpu}: use --gpu "
                            f"{' or '.join(sorted(SHAPES))}, or no --gpu for a CPU session")
        credentials(self.settings)  # none: say so before anything is packed or recorded

    def start_attempt(self, job: JobSpec, restart: int) -> str | None:
        if records.pushed(job, restart) is not None:
            return None  # pushed before: never twice
        from . import script
        shape = SHAPES.get(job.instance.gpu or "none")
        stop_after = self.settings.session_limit - self.settings.stop_margin
        if shape:
            quota = self.api.quota("gpu")
            if quota.left <= 2 * self.settings.stop_margin:
                return _waiting(quota)
            stop_after = min(stop_after, quota.left - self.settings.stop_margin)
        text = script.build(job, restart, stop_after, self.settings.grace)
        sources = [f"{self.api.user}/{_slug(job)}"] if restart > 0 else []
        pushed = self.api.push(_slug(job), text, shape=shape, sources=sources,
                               internet=bool(job.git_url), timeout=self.settings.session_limit)
        if pushed.error:
            quota = self.api.quota("gpu") if shape else None
            if quota is not None and quota.left <= 0:
                return _waiting(quota)
            raise UserError(f"Kaggle refused the kernel: {pushed.error}")
        records.save_pushed(job, restart, {"version": pushed.version, "owner": self.api.user,
                                           "session_id": pushed.session_id,
                                           "pushed_at": time.time(), "stop_after": stop_after})
        return None

    def attempt_status(self, job: JobSpec, restart: int) -> dict | None:
        pushed = records.pushed(job, restart)
        if pushed is None:
            return None
        ended = records.ended(job, restart)
        if ended is not None:
            return ended
        state, failure = self.api.status(_slug(job), pushed["version"])
        if state == "QUEUED":
            return None
        if state in ("RUNNING", "CANCEL_REQUESTED"):
            return {"state": "running", "started_at": pushed["pushed_at"]}
        files, log = self.api.output(_slug(job), pushed["version"])
        found = {name: self.api.download(files[path])
                 for name, path in records.output_paths(job, restart).items() if path in files}
        quota_out = state == "ERROR" and job.instance.gpu in SHAPES \
            and self.api.quota("gpu").left <= 0
        return records.save_ended(job, restart, state, failure, found, log, quota_out)

    def attempt_log(self, job: JobSpec, restart: int) -> str | None:
        kept = records.log(job, restart)
        if kept is not None:
            return kept
        pushed = records.pushed(job, restart)
        if pushed is None:
            return None
        return records.log_text(self.api.output(_slug(job), pushed["version"])[1])

    def cancel_job(self, name: str, job: JobSpec) -> None:
        latest = records.latest(job)
        if latest is not None and latest.get("session_id"):
            self.api.cancel(int(latest["session_id"]))

    def job_summary(self, job: JobSpec, restarts: int) -> dict:
        return {"versions": sum(1 for n in range(restarts + 1) if records.pushed(job, n)),
                "session_hours": round(records.hours(job, restarts), 4),
                "kernel": f"https://www.kaggle.com/code/{records.owner(job)}/{_slug(job)}"}

    def quota(self) -> list[dict]:
        """The user's accelerator quota as Kaggle reports it, one row per kind."""
        rows = []
        for kind in ("gpu", "tpu"):
            q = self.api.quota(kind)
            rows.append({"kind": kind, "used_hours": round(q.used / 3600, 3),
                         "reserved_hours": round(q.reserved / 3600, 3),
                         "allowed_hours": round(q.allowed / 3600, 3),
                         "left_hours": round(max(q.left, 0) / 3600, 3),
                         "refreshes_at": q.refreshes_at.isoformat() if q.refreshes_at else None})
        return rows


def _slug(job: JobSpec) -> str:
    return job.run_id.lower()


def _waiting(quota: "Quota") -> str:
    when = (quota.refreshes_at.strftime("%Y-%m-%d %H:%M UTC") if quota.refreshes_at
            else "its weekly refresh")
    return (f"waiting for Kaggle {quota.kind.upper()} quota ({max(quota.left, 0) / 3600:.2f} h "
            f"left), refreshes at {when}")


__all__ = ["KaggleProvider"]
