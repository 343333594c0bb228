"""What the fake Kaggle API knows about Kaggle itself, with where each fact comes from.
Checked 2026-11-30. Nothing here is taken from nbctl's own settings or catalog.

Sources:
  [sdk]      kagglesdk 0.1.38 (PyPI), the client the `kaggle` package is built on:
             kagglesdk/kaggle_http_client.py (POST <endpoint>/api/v1/<service>/<Method>, JSON
             body from `to_dict`, Basic auth username:key or `Authorization: Bearer <token>`,
             an answer whose JSON has `code` >= 400 raises HTTPError(message)),
             kagglesdk/kaggle_env.py (KAGGLE_API_ENVIRONMENT picks a row of `_env_to_endpoint`;
             LOCALHOST -> http://localhost, answered under /api/v1),
             kagglesdk/kaggle_object.py (camelCase field names; enums by name; timedelta as
             "<seconds>[.<fraction>]s"; datetime as ISO 8601 with "Z"; a default value is left
             out; unknown answer fields are ignored),
             kagglesdk/kernels/services/kernels_api_service.py (service
             "kernels.KernelsApiService" and its methods),
             kagglesdk/kernels/types/kernels_api_service.py (the Api*Request/Response messages
             and their `_fields`), kagglesdk/kernels/types/kernels_enums.py (KernelWorkerStatus,
             KernelExecutionType).
  [cli]      github.com/Kaggle/kaggle-api, src/kaggle/api/kaggle_api_extended.py at 1744cda:
             kernels_push (what a push sends; `slug` is "owner/kernel-slug"; push errors come
             back in SaveKernel's `error` field, and unusable sources in invalid*Sources while
             the push goes on), kernels_output (output files are fetched with a plain GET of
             each file's `url`, no credentials), kernels_delete (DeleteKernel by owner + slug).
  [acc]      kaggle-api docs/kernels.md, "Accelerators available as of Feb 2026".
  [limits]   Kaggle's notebook docs (kaggle.com/docs/notebooks): a session runs at most 12 hours
             on CPU or GPU and 9 hours on TPU; a weekly GPU quota of about 30 hours ("floating")
             and TPU quota of 20 hours, refreshed weekly.
  [paths]    The Kaggle image's layout: inputs under /kaggle/input/<source slug>/, the working
             directory /kaggle/working (its files are the version's output), a script kernel's
             code at /kaggle/src/script.py, KAGGLE_KERNEL_RUN_TYPE=Batch in a saved version.
"""
from __future__ import annotations

SERVICE = "kernels.KernelsApiService"

# Each request message the fake serves: camelCase field -> JSON type, from the `_fields` of
# Api<Method>Request in [sdk]. A field not listed is refused (400), as a proto JSON parser does.
STR, INT, BOOL, STRS = "string", "integer", "boolean", "list of strings"
REQUESTS: dict[str, dict[str, str]] = {
    "SaveKernel": {
        "id": INT, "slug": STR, "newTitle": STR, "text": STR, "language": STR,
        "kernelType": STR, "datasetDataSources": STRS, "kernelDataSources": STRS,
        "competitionDataSources": STRS, "categoryIds": STRS, "isPrivate": BOOL,
        "enableGpu": BOOL, "enableInternet": BOOL, "dockerImagePinningType": STR,
        "modelDataSources": STRS, "enableTpu": BOOL, "sessionTimeoutSeconds": INT,
        "priority": INT, "dockerImage": STR, "kernelExecutionType": STR, "machineShape": STR,
    },
    "GetKernelSessionStatus": {"userName": STR, "kernelSlug": STR, "versionLabel": STR},
    "ListKernelSessionOutput": {"userName": STR, "kernelSlug": STR, "pageSize": INT,
                                "pageToken": STR, "versionLabel": STR},
    "GetAcceleratorQuotaStatistics": {},
    "CancelKernelSession": {"kernelSessionId": INT},
    "DeleteKernel": {"userName": STR, "kernelSlug": STR},
}
# Methods [sdk] has on the service that the fake does not serve: answered 501, so a client that
# starts using one fails loudly here instead of getting a made-up answer.
UNSERVED = ("ListKernels", "ListKernelFiles", "GetKernel", "DownloadKernelOutput",
            "DownloadKernelOutputZip", "CreateKernelSession", "GetKernelSessionLogsStream")

EXECUTION_TYPES = ("KERNEL_EXECUTION_TYPE_UNSPECIFIED", "SAVE_AND_RUN_ALL", "INTER_ACTIVE",
                   "QUICK_SAVE")  # [sdk] KernelExecutionType

# KernelWorkerStatus names [sdk]; GetKernelSessionStatus answers one of these by name.
QUEUED, RUNNING, COMPLETE, ERROR = "QUEUED", "RUNNING", "COMPLETE", "ERROR"
CANCEL_REQUESTED, CANCEL_ACKNOWLEDGED = "CANCEL_REQUESTED", "CANCEL_ACKNOWLEDGED"

# machineShape values [acc]. Which quota each draws on follows its name (Nvidia* GPU, Tpu* TPU).
GPU_SHAPES = ("NvidiaTeslaP100", "NvidiaTeslaT4", "NvidiaTeslaT4Highmem", "NvidiaTeslaA100",
              "NvidiaL4", "NvidiaL4X1", "NvidiaH100", "NvidiaRtxPro6000")
TPU_SHAPES = ("TpuV38", "Tpu1VmV38", "TpuV5E8", "TpuV6E8")
MACHINE_SHAPES = GPU_SHAPES + TPU_SHAPES

# [limits], in hours; the fake scales an hour down to `hour_seconds` of real time.
SESSION_HOURS = {"cpu": 12.0, "gpu": 12.0, "tpu": 9.0}
WEEKLY_QUOTA_HOURS = {"gpu": 30.0, "tpu": 20.0}
QUOTA_WINDOW_HOURS = 7 * 24.0

LANGUAGES = ("python",)    # [cli] also takes r and rmarkdown; the fake runs Python only
KERNEL_TYPES = ("script",)  # [cli] also takes notebook; the fake runs scripts only

# Texts. [sdk] fixes only the error shape {"code": <HTTP status>, "message": ...}, and [cli]
# the push answer {"error": ...}. The texts below are the fake's own wording unless marked
# otherwise; a client must not match on them (it may use the status, the HTTP code, the
# presence of `error`).
UNKNOWN_TEXT = "(fake's own wording: the real text is not documented)"
KERNEL_NOT_FOUND = "Kernel not found"  # a push's `error`, as [cli] users quote it
UNAUTHENTICATED = "Unauthenticated"
