"""The one place the Kaggle provider imports its SDK: kagglesdk (and requests, which it uses).

Each verb is one call of kagglesdk's KernelsApiClient, run through nbctl's fault machinery
(faults.py) under the one retry policy. kagglesdk takes its endpoint only from a table keyed by
KAGGLE_API_ENVIRONMENT; with NBCTL_KAGGLE_API_URL set, the client is made for the table's LOCAL
row holding that URL (the row is put back at once: the client keeps its endpoint). The
`kaggle` package is not imported: it authenticates, and may exit, when imported.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from nbctl_cloud import faults

from .faults import translate
from .settings import Credentials, Settings

PAGE_SIZE = 1000


@dataclass(frozen=True)
class Pushed:
    version: int
    session_id: int | None  # the scriptVersionId in the answer's URL: what a cancel names
    error: str | None
    invalid_sources: tuple[str, ...]


@dataclass(frozen=True)
class Quota:
    kind: str              # "gpu" or "tpu"
    used: float            # seconds of Kaggle time this week
    reserved: float        # seconds held by sessions running now
    allowed: float
    refreshes_at: datetime | None

    @property
    def left(self) -> float:
        return self.allowed - self.used - self.reserved


class KaggleApi:
    def __init__(self, settings: Settings, creds: Credentials):
        from kagglesdk import KaggleClient, KaggleEnv, kaggle_env

        self.user = creds.username
        if settings.api_url:
            table = kaggle_env._env_to_endpoint
            saved = table[KaggleEnv.LOCAL]
            table[KaggleEnv.LOCAL] = settings.api_url.rstrip("/")
            try:
                self._client = KaggleClient(env=KaggleEnv.LOCAL, username=creds.username,
                                            password=creds.key)  # reads its endpoint now
            finally:
                table[KaggleEnv.LOCAL] = saved
        else:
            self._client = KaggleClient(username=creds.username, password=creds.key)
        self._api = self._client.kernels.kernels_api_client

    def _call(self, method: str, request, what: str):
        return faults.call(translate(what), getattr(self._api, method), request)

    def push(self, slug: str, text: str, *, shape: str | None, sources: list[str],
             internet: bool, timeout: int) -> Pushed:
        from kagglesdk.kernels.types.kernels_api_service import ApiSaveKernelRequest

        r = ApiSaveKernelRequest()
        r.slug, r.new_title, r.text = f"{self.user}/{slug}", slug, text
        r.language, r.kernel_type, r.is_private = "python", "script", True
        r.enable_gpu, r.enable_internet = shape is not None, internet
        if shape:
            r.machine_shape = shape
        r.kernel_data_sources = list(sources)
        r.session_timeout_seconds = int(timeout)
        answer = self._call("save_kernel", r, f"pushing the kernel {slug}")
        session = None
        if answer.url and "scriptVersionId=" in answer.url:
            tail = answer.url.split("scriptVersionId=", 1)[1].split("&", 1)[0]
            session = int(tail) if tail.isdigit() else None
        return Pushed(version=answer.version_number or 0, session_id=session,
                      error=answer.error or None,
                      invalid_sources=tuple(answer.invalid_kernel_sources or ()))

    def status(self, slug: str, version: int) -> tuple[str, str | None]:
        """(KernelWorkerStatus name, failure message) of a version's session."""
        from kagglesdk.kernels.types.kernels_api_service import ApiGetKernelSessionStatusRequest

        r = ApiGetKernelSessionStatusRequest()
        r.user_name, r.kernel_slug, r.version_label = self.user, slug, str(version)
        answer = self._call("get_kernel_session_status", r, f"reading the kernel {slug}")
        return answer.status.name, answer.failure_message or None

    def output(self, slug: str, version: int) -> tuple[dict[str, str], str]:
        """({file name: its URL}, the log) of a version, every page."""
        from kagglesdk.kernels.types.kernels_api_service import ApiListKernelSessionOutputRequest

        files, log, token = {}, "", ""
        while True:
            r = ApiListKernelSessionOutputRequest()
            r.user_name, r.kernel_slug, r.version_label = self.user, slug, str(version)
            r.page_size = PAGE_SIZE
            if token:
                r.page_token = token
            answer = self._call("list_kernel_session_output", r, f"reading the output of {slug}")
            files.update({f.file_name: f.url for f in answer.files})
            log = answer.log or log
            token = answer.next_page_token
            if not token:
                return files, log

    def download(self, url: str) -> bytes:
        """An output file: a plain GET of its (signed) URL, no credentials, as the kaggle CLI."""
        import requests

        def get() -> bytes:
            resp = requests.get(url, timeout=60)
            resp.raise_for_status()
            return resp.content
        return faults.call(translate("downloading a kernel's output"), get)

    def quota(self, kind: str = "gpu") -> Quota:
        from kagglesdk.kernels.types.kernels_api_service import (
            ApiGetAcceleratorQuotaStatisticsRequest)

        answer = self._call("get_accelerator_quota_statistics",
                            ApiGetAcceleratorQuotaStatisticsRequest(), "reading the quota")
        q = getattr(answer, f"{kind}_quota")
        refresh = answer.quota_refresh_time
        if refresh is not None and refresh.tzinfo is None:
            refresh = refresh.replace(tzinfo=timezone.utc)
        return Quota(kind=kind, used=_seconds(q.time_used), reserved=_seconds(q.time_reserved),
                     allowed=_seconds(q.total_time_allowed), refreshes_at=refresh)

    def cancel(self, session_id: int) -> None:
        from kagglesdk.kernels.types.kernels_api_service import ApiCancelKernelSessionRequest

        r = ApiCancelKernelSessionRequest()
        r.kernel_session_id = session_id
        self._call("cancel_kernel_session", r, "cancelling the kernel's session")

    def close(self) -> None:
        self._client.http_client().__exit__(None, None, None)


def _seconds(value) -> float:
    return value.total_seconds() if value is not None else 0.0
