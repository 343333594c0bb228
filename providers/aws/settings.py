"""The AWS provider's settings: [providers.aws] in nbctl's config.toml, then environment.

No secrets live here: credentials come from boto3's standard chain (environment, shared
files, SSO, instance role). The endpoint comes from AWS_ENDPOINT_URL (and the per-service
AWS_ENDPOINT_URL_<SERVICE>), which boto3 itself honours.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from nbctl_cloud.errors import UserError

DEFAULT_REGION = "us-east-1"
DLAMI_NAME = "Deep Learning OSS Nvidia Driver AMI GPU PyTorch*"
DLAMI_OWNERS = ("amazon",)
DEFAULT_SPOT_RESTART_WAIT = 120.0


@dataclass(frozen=True)
class Settings:
    region: str
    regions: tuple[str, ...]  # every region `list` searches
    role_arn: str | None  # SageMaker execution role
    scheduler_role_arn: str | None  # the role EventBridge Scheduler assumes
    ami: str | None  # a fixed AMI for spot instances (else looked up by name)
    ami_name: str
    ami_owners: tuple[str, ...]
    key_name: str | None
    security_group_ids: tuple[str, ...]
    subnet_ids: dict  # availability zone -> subnet id, for accounts without a default VPC
    instance_profile: str | None  # IAM instance profile for spot instances (name or ARN)
    metadata_url: str | None  # IMDS base URL the agent watches (tests point it elsewhere)
    jupyter_port: int
    ssh_port: int  # where `nbctl open` reaches an EC2 instance's sshd
    presigned_url_seconds: int
    # how long a job waits for EC2 to restart its interrupted spot instance before nbctl
    # replaces it with a new one (same zone first, then the next allowed ones)
    spot_restart_wait: float

    @classmethod
    def load(cls, config: dict) -> "Settings":
        region = (config.get("region") or os.environ.get("AWS_REGION")
                  or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION)
        regions = tuple(dict.fromkeys([region, *(config.get("regions") or [])]))
        return cls(
            region=region, regions=regions,
            role_arn=config.get("role_arn") or os.environ.get("NBCTL_AWS_ROLE_ARN"),
            scheduler_role_arn=(config.get("scheduler_role_arn")
                                or os.environ.get("NBCTL_AWS_SCHEDULER_ROLE_ARN")),
            ami=config.get("ami"),
            ami_name=config.get("ami_name") or DLAMI_NAME,
            ami_owners=tuple(config.get("ami_owners") or DLAMI_OWNERS),
            key_name=config.get("key_name"),
            security_group_ids=tuple(config.get("security_group_ids") or ()),
            subnet_ids=dict(config.get("subnet_ids") or {}),
            instance_profile=config.get("instance_profile"),
            metadata_url=config.get("metadata_url") or os.environ.get("NBCTL_AWS_METADATA_URL"),
            jupyter_port=int(config.get("jupyter_port") or 8888),
            ssh_port=int(config.get("ssh_port") or 22),
            presigned_url_seconds=int(config.get("presigned_url_seconds") or 43200),
            spot_restart_wait=_seconds(config, "spot_restart_wait", DEFAULT_SPOT_RESTART_WAIT),
        )

    def require_role(self) -> str:
        if not self.role_arn:
            raise UserError("SageMaker notebooks need an execution role: set `role_arn` under "
                            "[providers.aws] in nbctl's config.toml, or NBCTL_AWS_ROLE_ARN")
        return self.role_arn

    def require_scheduler_role(self) -> str:
        if not self.scheduler_role_arn:
            raise UserError("AWS schedules need a role EventBridge Scheduler can assume: set "
                            "`scheduler_role_arn` under [providers.aws] in nbctl's config.toml, "
                            "or NBCTL_AWS_SCHEDULER_ROLE_ARN")
        return self.scheduler_role_arn


def region_of(zone: str) -> str:
    """us-east-1a -> us-east-1 (a region name is returned as it is)."""
    return zone[:-1] if zone and zone[-1].isalpha() and zone[-2:-1].isdigit() else zone


def _seconds(config: dict, key: str, default: float) -> float:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise UserError(f"`{key}` under [providers.aws] in nbctl's config.toml is {value!r}: "
                        f"give a number of seconds, 0 or more (default {default:g})")
    return float(value)
