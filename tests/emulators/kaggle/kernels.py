"""The fake's kernels, versions and quota: the answers of kernels.KernelsApiService's methods.

Facts and their sources are in reference.py; where Kaggle's behaviour is not documented, the
choice made here is said where it is made. Times: the fake runs Kaggle's hours as `hour_seconds`
of real time each; the quota call reports Kaggle's time (real seconds * 3600 / hour_seconds),
and quotaRefreshTime as the real UTC instant the fake refreshes the quota.
"""
from __future__ import annotations

import shutil
import time
from datetime import datetime, timezone
from pathlib import Path

from .reference import (CANCEL_ACKNOWLEDGED, COMPLETE, EXECUTION_TYPES, GPU_SHAPES,
                        KERNEL_NOT_FOUND, KERNEL_TYPES, LANGUAGES, MACHINE_SHAPES,
                        QUOTA_WINDOW_HOURS, SESSION_HOURS, TPU_SHAPES, UNKNOWN_TEXT,
                        WEEKLY_QUOTA_HOURS)
from .sessions import Runner, Session


class ApiError(Exception):
    """An HTTP error answer, in the shape [sdk] reads: {"code": status, "message": text}."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message

    def body(self) -> dict:
        return {"code": self.status, "message": self.message}


class Kernels:
    """State and method handlers; the HTTP side (server.py) calls `_<Method>(user, body)`
    under `self._lock`."""

    base: Path
    hour_seconds: float
    attach_failed_outputs: bool
    runner: Runner

    def _init_kernels(self) -> None:
        self.kernels: dict[tuple[str, str], dict] = {}
        self.sessions: dict[int, Session] = {}
        self.quota_hours = dict(WEEKLY_QUOTA_HOURS)
        self._used: dict[tuple[str, str], float] = {}  # (user, kind) -> real seconds charged
        self._ever_ran: set[tuple[str, str]] = set()
        self._window_end = time.time() + QUOTA_WINDOW_HOURS * self.hour_seconds
        self._next_id = 1000

    # -- quota --------------------------------------------------------------------------------
    def _roll_window(self) -> None:
        if time.time() >= self._window_end:
            self._refresh(QUOTA_WINDOW_HOURS * self.hour_seconds)

    def _refresh(self, next_in: float) -> None:
        now = time.monotonic()
        self._used.clear()
        for s in self.sessions.values():
            if s.counted_since is not None and s.ended is None:
                s.counted_since = now  # what ran before the refresh is forgiven with the rest
        self._window_end = time.time() + next_in

    def _running_seconds(self, user: str, kind: str) -> float:
        now = time.monotonic()
        return sum(now - s.counted_since for s in self.sessions.values()
                   if s.owner == user and s.kind == kind and s.ended is None
                   and s.counted_since is not None)

    def _left(self, user: str, kind: str) -> float:
        """Real seconds of `kind` quota the user has left (inf for CPU: no quota)."""
        if kind not in self.quota_hours:
            return float("inf")
        self._roll_window()
        allowed = self.quota_hours[kind] * self.hour_seconds
        return allowed - self._used.get((user, kind), 0.0) - self._running_seconds(user, kind)

    def _over_quota(self, session: Session) -> str | None:
        if self._left(session.owner, session.kind) > 0:
            return None
        return f"Your weekly {session.kind.upper()} quota is used up {UNKNOWN_TEXT}"

    def _session_ended(self, session: Session) -> None:
        if session.counted_since is not None and session.kind in self.quota_hours:
            key = (session.owner, session.kind)
            self._used[key] = self._used.get(key, 0.0) + session.ended - session.counted_since
        if session.metadata.get("_deleted"):
            shutil.rmtree(session.root, ignore_errors=True)

    def _kaggle_time(self, real_seconds: float) -> str:
        return f"{max(real_seconds, 0.0) * 3600 / self.hour_seconds:.3f}s"

    def _GetAcceleratorQuotaStatistics(self, user: str, body: dict) -> dict:
        self._roll_window()
        answer = {"quotaRefreshTime": datetime.fromtimestamp(self._window_end, timezone.utc)
                  .replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"}
        for kind, hours in self.quota_hours.items():
            allowed = self._kaggle_time(hours * self.hour_seconds)
            answer[f"{kind}Quota"] = {
                "timeUsed": self._kaggle_time(self._used.get((user, kind), 0.0)),
                "timeReserved": self._kaggle_time(self._running_seconds(user, kind)),
                "totalTimeAllowed": allowed, "minimumTimeAllowed": allowed,
                **({"hasEverRun": True} if (user, kind) in self._ever_ran else {})}
        return answer

    # -- kernels ------------------------------------------------------------------------------
    def _visible(self, user: str, owner: str, slug: str) -> dict:
        kernel = self.kernels.get((owner, slug))
        if kernel is None or (kernel["private"] and owner != user):
            raise ApiError(404, f"Kernel {owner}/{slug} not found {UNKNOWN_TEXT}")
        return kernel

    def _version(self, kernel: dict, label: str | None) -> Session:
        """The version a `versionLabel` names (its number, as a string; the fake's reading of
        an undocumented field), or the latest."""
        if not label:
            return kernel["versions"][-1]
        if not label.isdigit() or not 1 <= int(label) <= len(kernel["versions"]):
            raise ApiError(404, f"Version {label!r} not found {UNKNOWN_TEXT}")
        return kernel["versions"][int(label) - 1]

    def _kind(self, body: dict) -> str:
        shape = body.get("machineShape", "")
        if shape in GPU_SHAPES or (not shape and body.get("enableGpu")):
            return "gpu"
        if shape in TPU_SHAPES or (not shape and body.get("enableTpu")):
            return "tpu"
        return "cpu"

    def _source(self, user: str, ref: str) -> Path | None:
        """The output folder a kernel source `owner/slug` mounts: that kernel's latest version
        that ended COMPLETE (with `attach_failed_outputs`, that ended at all). Whether Kaggle
        mounts a failed or timed-out version's output is not documented."""
        owner, _, slug = ref.partition("/")
        kernel = self.kernels.get((owner, slug))
        if kernel is None or (kernel["private"] and owner != user):
            return None
        for session in reversed(kernel["versions"]):
            if session.status == COMPLETE or (self.attach_failed_outputs and not session.live):
                return session.working
        return None

    def _SaveKernel(self, user: str, body: dict) -> dict:
        def refused(error: str) -> dict:  # [cli]: a push is refused in the answer's `error`
            return {"error": error}

        if "id" in body:
            found = [k for k in self.kernels.values() if k["id"] == body["id"]]
            if not found or found[0]["owner"] != user:
                return refused(KERNEL_NOT_FOUND)
            kernel = found[0]
            owner, slug = kernel["owner"], kernel["slug"]
        elif "/" in body.get("slug", ""):
            owner, _, slug = body["slug"].partition("/")
            if owner != user:
                return refused(KERNEL_NOT_FOUND)
            kernel = self.kernels.get((owner, slug))
        else:
            return refused(f"A kernel id, or a slug as owner/kernel-slug, is required "
                           f"{UNKNOWN_TEXT}")
        language = body.get("language", kernel["language"] if kernel else "")
        if language not in LANGUAGES:
            return refused(f"The fake runs language python only, not {language!r} "
                           f"{UNKNOWN_TEXT}")
        kernel_type = body.get("kernelType", kernel["kernel_type"] if kernel else "")
        if kernel_type not in KERNEL_TYPES:
            return refused(f"The fake runs kernel type script only, not {kernel_type!r} "
                           f"{UNKNOWN_TEXT}")
        shape = body.get("machineShape", "")
        if shape and shape not in MACHINE_SHAPES:
            return refused(f"Invalid machine shape {shape!r} {UNKNOWN_TEXT}")
        execution = body.get("kernelExecutionType", "SAVE_AND_RUN_ALL")
        if execution not in EXECUTION_TYPES:
            raise ApiError(400, f"Invalid value for kernelExecutionType: {execution!r} "
                                f"{UNKNOWN_TEXT}")
        if execution in ("INTER_ACTIVE", "QUICK_SAVE"):
            return refused(f"The fake runs every version it saves, not {execution} "
                           f"{UNKNOWN_TEXT}")
        kind = self._kind(body)
        limit_hours = SESSION_HOURS[kind]
        timeout = body.get("sessionTimeoutSeconds", 0)
        if timeout > limit_hours * 3600:  # [sdk]: "must be lower than the global maximum"
            return refused(f"sessionTimeoutSeconds must be at most {limit_hours * 3600:g} "
                           f"{UNKNOWN_TEXT}")
        if timeout:
            limit_hours = timeout / 3600
        if self._left(user, kind) <= 0:
            return refused(f"Your weekly {kind.upper()} quota is used up {UNKNOWN_TEXT}")

        inputs, invalid = {}, []
        for ref in body.get("kernelDataSources", []):
            folder = self._source(user, ref)
            if folder is None:
                invalid.append(ref)
            else:
                inputs[ref.partition("/")[2]] = folder
        if kernel is None:
            self._next_id += 1
            kernel = self.kernels[(owner, slug)] = {
                "id": self._next_id, "owner": owner, "slug": slug,
                "title": body.get("newTitle", slug), "language": language,
                "kernel_type": kernel_type, "private": body.get("isPrivate", False),
                "versions": []}
        elif "isPrivate" in body:
            kernel["private"] = body["isPrivate"]
        self._next_id += 1
        number = len(kernel["versions"]) + 1
        session = Session(owner=owner, slug=slug, number=number, session_id=self._next_id,
                          kind=kind, shape=shape, limit=limit_hours * self.hour_seconds,
                          limit_hours=limit_hours, root=self.base / owner / slug / str(number),
                          metadata=dict(body))
        kernel["versions"].append(session)
        self.sessions[session.session_id] = session
        if kind in self.quota_hours:
            self._ever_ran.add((user, kind))
        self.runner.start(session, body.get("text", ""), inputs)
        answer = {"ref": f"/code/{owner}/{slug}",
                  "url": f"{self.url}/code/{owner}/{slug}?scriptVersionId={session.session_id}",
                  "versionNumber": number, "kernelId": kernel["id"]}
        invalid_of = {"invalidKernelSources": invalid,
                      "invalidDatasetSources": body.get("datasetDataSources", []),
                      "invalidCompetitionSources": body.get("competitionDataSources", []),
                      "invalidModelSources": body.get("modelDataSources", []),
                      "invalidTags": body.get("categoryIds", [])}  # the fake has none of these
        return {**answer, **{k: v for k, v in invalid_of.items() if v}}

    def _GetKernelSessionStatus(self, user: str, body: dict) -> dict:
        kernel = self._visible(user, body.get("userName", ""), body.get("kernelSlug", ""))
        session = self._version(kernel, body.get("versionLabel"))
        answer = {"status": session.status}
        if session.failure:
            answer["failureMessage"] = session.failure
        return answer

    def _ListKernelSessionOutput(self, user: str, body: dict) -> dict:
        kernel = self._visible(user, body.get("userName", ""), body.get("kernelSlug", ""))
        session = self._version(kernel, body.get("versionLabel"))
        files = [] if session.live else session.outputs
        start = int(body["pageToken"]) if body.get("pageToken", "").isdigit() else 0
        size = body.get("pageSize") or 1000
        page = files[start:start + size]
        answer = {"files": [{"url": f"{self.url}/_output/{session.session_id}/{name}",
                             "fileName": name} for name in page],
                  "log": session.log_text()}
        if start + size < len(files):
            answer["nextPageToken"] = str(start + size)
        return answer

    def _CancelKernelSession(self, user: str, body: dict) -> dict:
        session = self.sessions.get(body.get("kernelSessionId", 0))
        if session is None or session.owner != user:
            raise ApiError(404, f"Kernel session not found {UNKNOWN_TEXT}")
        if not session.live:
            return {"errorMessage": f"The session has already ended {UNKNOWN_TEXT}"}
        self.runner.stop(session, CANCEL_ACKNOWLEDGED)
        return {}

    def _DeleteKernel(self, user: str, body: dict) -> dict:
        owner, slug = body.get("userName", ""), body.get("kernelSlug", "")
        kernel = self.kernels.get((owner, slug))
        if kernel is None or owner != user:
            raise ApiError(404, f"Kernel {owner}/{slug} not found {UNKNOWN_TEXT}")
        del self.kernels[(owner, slug)]
        for session in kernel["versions"]:
            del self.sessions[session.session_id]
            if session.live:  # its folder goes when it has ended (see _session_ended)
                session.metadata["_deleted"] = True
                self.runner.kill(session)
            else:
                shutil.rmtree(session.root, ignore_errors=True)
        return {}
