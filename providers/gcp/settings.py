"""The GCP provider's settings: the user's [providers.gcp] config, then the environment.

Endpoints are configurable so the same code talks to the cloud or to a local emulator:
NBCTL_GCP_COMPUTE_ENDPOINT, NBCTL_GCP_NOTEBOOKS_ENDPOINT, NBCTL_GCP_METADATA_URL (or the
config keys compute_endpoint, notebooks_endpoint, metadata_url). Credentials are never read
from here: they come from Application Default Credentials, or none at all when
NBCTL_GCP_ANONYMOUS=1 (emulators only).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from nbctl_cloud.errors import UserError

DLVM_PROJECT = "deeplearning-platform-release"
DLVM_FAMILY = "common-cu124"
WORKBENCH_IMAGE_PROJECT = "cloud-notebooks-managed"
WORKBENCH_IMAGE_FAMILY = "workbench-instances"


def _env_or(config: dict, env: str, key: str, default=None):
    return os.environ.get(env) or config.get(key) or default


@dataclass(frozen=True)
class Settings:
    project: str | None
    region: str
    zone: str | None
    compute_endpoint: str | None
    notebooks_endpoint: str | None
    metadata_url: str | None
    anonymous: bool
    image_project: str
    image_family: str
    workbench_image_project: str
    workbench_image_family: str
    network: str
    operation_timeout: float
    disk_gb: int
    jupyter_port: int
    ssh_port: int  # where `nbctl open` reaches the VM's sshd

    @classmethod
    def load(cls, config: dict) -> "Settings":
        project = (config.get("project") or os.environ.get("GOOGLE_CLOUD_PROJECT")
                   or os.environ.get("CLOUDSDK_CORE_PROJECT"))
        zone = config.get("zone")
        region = config.get("region") or (zone.rsplit("-", 1)[0] if zone else "us-central1")
        try:
            timeout = float(config.get("operation_timeout", 600))
            disk_gb = int(config.get("disk_gb", 100))
            port = int(config.get("jupyter_port", 8888))
            ssh_port = int(_env_or(config, "NBCTL_GCP_SSH_PORT", "ssh_port") or 22)
        except (TypeError, ValueError) as e:
            raise UserError(f"invalid number in [providers.gcp] of config.toml: {e}") from None
        return cls(
            project=project, region=region, zone=zone,
            compute_endpoint=_env_or(config, "NBCTL_GCP_COMPUTE_ENDPOINT", "compute_endpoint"),
            notebooks_endpoint=_env_or(config, "NBCTL_GCP_NOTEBOOKS_ENDPOINT", "notebooks_endpoint"),
            metadata_url=_env_or(config, "NBCTL_GCP_METADATA_URL", "metadata_url"),
            anonymous=os.environ.get("NBCTL_GCP_ANONYMOUS") == "1",
            image_project=config.get("image_project", DLVM_PROJECT),
            image_family=config.get("image_family", DLVM_FAMILY),
            workbench_image_project=config.get("workbench_image_project", WORKBENCH_IMAGE_PROJECT),
            workbench_image_family=config.get("workbench_image_family", WORKBENCH_IMAGE_FAMILY),
            network=config.get("network", "global/networks/default"),
            operation_timeout=timeout, disk_gb=disk_gb, jupyter_port=port, ssh_port=ssh_port,
        )

    def require_project(self) -> str:
        if not self.project:
            raise UserError("no GCP project: set `project` under [providers.gcp] in config.toml, "
                            "or GOOGLE_CLOUD_PROJECT in the environment")
        return self.project
