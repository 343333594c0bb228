"""Where the Paperspace provider talks to and with which key: environment over config file.

Config (`[providers.paperspace]` in nbctl's config.toml), every key optional:
  api_key      the API key; PAPERSPACE_API_KEY in the environment wins over it
  api_url      API root, default https://api.paperspace.com/v1 (NBCTL_PAPERSPACE_API_URL wins)
  region       default region: ny2, ca1 or ams1
  template_id  OS template to create machines from (default: the newest "ML-in-a-Box"
               template found with GET /os-templates)
  disk_gb      default disk size, one of DISK_SIZES
The key is never logged, stored or accepted as a command argument.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from nbctl_cloud.errors import AuthError, UserError

from .faults import KEY_ENV, KEY_HINT

API_URL = "https://api.paperspace.com/v1"
URL_ENV = "NBCTL_PAPERSPACE_API_URL"
# Paperspace's datacenters: nbctl names them by code (--region/--zone), API v1 by the name
# its docs send as `region` ("Create a Machine with the Paperspace API": "East Coast (NY2)").
REGION_NAMES = {"ny2": "East Coast (NY2)", "ca1": "West Coast (CA1)", "ams1": "Europe (AMS1)"}
REGIONS = tuple(REGION_NAMES)
# The disk sizes (GB) Paperspace offers for `diskSize` of POST /machines.
DISK_SIZES = (50, 100, 250, 500, 1000, 2000, 4000, 8000, 12000, 16000)
DEFAULT_DISK_GB = 100
ML_TEMPLATE_NAME = "ML-in-a-Box"
JUPYTER_PORT = 8888


@dataclass(frozen=True)
class Settings:
    api_url: str
    region: str
    template_id: str | None
    disk_gb: int
    ssh_port: int = 22  # where `nbctl open` reaches the machine's sshd

    @classmethod
    def load(cls, config: dict) -> "Settings":
        region = str(config.get("region") or REGIONS[0])
        if region not in REGIONS:
            raise UserError(f"invalid Paperspace region {region!r} in config.toml: use one of "
                            f"{', '.join(REGIONS)}")
        disk = config.get("disk_gb") or DEFAULT_DISK_GB
        if disk not in DISK_SIZES:
            raise UserError(f"invalid Paperspace disk_gb {disk!r} in config.toml: use one of "
                            f"{', '.join(map(str, DISK_SIZES))}")
        return cls(api_url=(os.environ.get(URL_ENV) or config.get("api_url") or API_URL).rstrip("/"),
                   region=region, template_id=config.get("template_id") or None,
                   disk_gb=disk, ssh_port=int(config.get("ssh_port") or 22))


def api_key(config: dict) -> str:
    """The API key from the environment, else the config file; AuthError naming both if none."""
    key = (os.environ.get(KEY_ENV) or str(config.get("api_key") or "")).strip()
    if not key:
        raise AuthError(f"no Paperspace API key: {KEY_HINT}")
    return key
