"""Small SDK-free helpers shared by both GCP backends (and the colab provider): labels,
idempotency keys, GPU names, Google's credentials."""
from __future__ import annotations

import re
import uuid
from functools import lru_cache

from nbctl_cloud.errors import AuthError
from nbctl_cloud.model import InstanceSpec

BACKEND_GCE = "gce"
BACKEND_WORKBENCH = "workbench"
WORKBENCH_MIN_DISK_GB = 150  # the smallest boot disk a Workbench instance takes
LABEL_BACKEND = "nbctl-backend"
NO_NATIVE_CRON = ("Vertex AI Workbench instances have no native cron schedule; nbctl's own "
                  "scheduler (`nbctl scheduler`) runs this one")
NO_JOBS_ON_WORKBENCH = ("training jobs on GCP run on spot Compute Engine VMs: add --preemptible "
                        "(Vertex AI Workbench notebooks do not take nbctl jobs)")
# A fixed namespace: the same (name, spec, zone) always yields the same requestId.
REQUEST_NAMESPACE = uuid.UUID("8f0e7c52-5b1e-4f57-9d0a-6a1f4c1d2b3e")


SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]


def credentials(anonymous: bool):
    """Application Default Credentials, or anonymous ones for an emulator (google-auth, loaded
    here on first use)."""
    if anonymous:
        from google.auth.credentials import AnonymousCredentials
        return AnonymousCredentials()
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError
    try:
        creds, _project = google.auth.default(scopes=SCOPES)
    except DefaultCredentialsError as e:
        raise AuthError(f"no Google Cloud credentials ({e}); run `gcloud auth application-"
                        f"default login` or set GOOGLE_APPLICATION_CREDENTIALS") from None
    return creds


def backend_for(spec: InstanceSpec) -> str:
    """Spot notebooks are Compute Engine VMs; on-demand ones are Workbench instances."""
    return BACKEND_GCE if spec.preemptible else BACKEND_WORKBENCH


def _label_value(v: str) -> str:
    """GCP label syntax: lowercase letters, digits, `_` and `-`, at most 63 characters."""
    return re.sub(r"[^a-z0-9_-]", "-", str(v).lower())[:63]


def labels_for(spec: InstanceSpec, backend: str) -> dict[str, str]:
    """spec.labels (nbctl's among them: the core stamped them) in GCP's label syntax, and the
    backend that made the instance."""
    labels = {_label_value(k): _label_value(v) for k, v in spec.labels.items()}
    labels[LABEL_BACKEND] = backend
    return labels


def request_id(spec: InstanceSpec, zone: str) -> str:
    """The insert's idempotency key: a retried insert is the same request, never a second VM.
    The zone is part of it so that failing over to the next zone is a new request."""
    return str(uuid.uuid5(REQUEST_NAMESPACE, f"{spec.name}/{spec.spec_hash()}/{zone}"))


def gce_accelerator(accelerator: str) -> str:
    """Catalog 'NVIDIA_TESLA_T4' -> Compute Engine accelerator type 'nvidia-tesla-t4'."""
    return accelerator.lower().replace("_", "-")


@lru_cache(maxsize=1)
def _gpu_by_accelerator() -> dict[str, str]:
    from nbctl_cloud.catalog import load_catalog
    return {o.accelerator.upper(): o.gpu for o in load_catalog().offers(provider="gcp")
            if o.accelerator}


def gpu_of(accelerator: str | None) -> str | None:
    """'nvidia-tesla-t4' or 'NVIDIA_TESLA_T4' -> 't4' (None if unknown)."""
    if not accelerator:
        return None
    key = accelerator.rsplit("/", 1)[-1].upper().replace("-", "_")
    return _gpu_by_accelerator().get(key)


def filter_expr(labels: dict[str, str] | None, style: str) -> str:
    """A server-side label filter: Compute Engine `(labels.k = "v") AND ...`, Notebooks
    (AIP-160) `labels.k="v" AND ...`."""
    items = sorted((labels or {}).items())
    if style == BACKEND_GCE:
        return " AND ".join(f'(labels.{k} = "{v}")' for k, v in items)
    return " AND ".join(f'labels.{k}="{v}"' for k, v in items)
