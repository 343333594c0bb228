"""The Colab provider's settings: the user's [providers.colab] config, then the environment.

Config keys, every one optional:
  project       the Google Cloud project (else GOOGLE_CLOUD_PROJECT or CLOUDSDK_CORE_PROJECT)
  region        where runtimes go by default (us-central1)
  regions       the regions `up` tries in turn when --zone/--region name none (default: region)
  runtime_user  the email a runtime is assigned to (else the service account of the
                credentials; a person's Application Default Credentials do not say it)
  endpoint      the API endpoint; NBCTL_COLAB_ENDPOINT wins (an emulator on loopback)
  operation_timeout  seconds to wait for one long-running operation (600)
Credentials are never read from here: Application Default Credentials, or none at all when
NBCTL_GCP_ANONYMOUS=1 (emulators only).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from nbctl_cloud.errors import UserError

ENDPOINT_ENV = "NBCTL_COLAB_ENDPOINT"
DEFAULT_REGION = "us-central1"


@dataclass(frozen=True)
class Settings:
    project: str | None
    region: str
    regions: tuple[str, ...]
    runtime_user: str | None
    endpoint: str | None
    anonymous: bool
    operation_timeout: float

    @classmethod
    def load(cls, config: dict) -> "Settings":
        project = (config.get("project") or os.environ.get("GOOGLE_CLOUD_PROJECT")
                   or os.environ.get("CLOUDSDK_CORE_PROJECT"))
        region = str(config.get("region") or DEFAULT_REGION)
        regions = config.get("regions") or [region]
        if isinstance(regions, str) or not all(isinstance(r, str) and r for r in regions):
            raise UserError("invalid regions in [providers.colab] of config.toml: use a list "
                            "such as [\"us-central1\", \"us-east4\"]")
        try:
            timeout = float(config.get("operation_timeout", 600))
        except (TypeError, ValueError) as e:
            raise UserError(f"invalid operation_timeout in [providers.colab] of config.toml: "
                            f"{e}") from None
        return cls(project=project, region=region, regions=tuple(dict.fromkeys(regions)),
                   runtime_user=config.get("runtime_user") or None,
                   endpoint=os.environ.get(ENDPOINT_ENV) or config.get("endpoint") or None,
                   anonymous=os.environ.get("NBCTL_GCP_ANONYMOUS") == "1",
                   operation_timeout=timeout)

    def require_project(self) -> str:
        if not self.project:
            raise UserError("no Google Cloud project for Colab Enterprise: set `project` under "
                            "[providers.colab] in config.toml, or GOOGLE_CLOUD_PROJECT")
        return self.project
