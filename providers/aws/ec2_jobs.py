"""Jobs on EC2 spot instances: nbctl hands a job attempt to the instance through a tag.

The instance's job launcher (nbctl_cloud.runtime.job_launcher, `--source ec2`, started by the
user data at every boot) reads the instance tag `nbctl-job` from the instance metadata (the
instance is launched with InstanceMetadataTags enabled: EC2 User Guide, "View tags for your EC2
instances using instance metadata"). A tag value holds at most 256 characters (EC2 API
Reference, Tag), so the tag names the attempt's JSON, which `run_job` writes first into the
job's storage at `<status_url>/launch-<restart>.json`; the tag `nbctl-job-requirements` lists
the pinned packages (fsspec, s3fs) the launcher installs to read it. Both tags are set in one
CreateTags call. The launcher starts each (run_id, restart) once per root volume, so a reboot
never runs an attempt twice. `cancel_job` deletes the tags, and the launcher sends the job
SIGTERM. Nothing secret is written: tags show in the console and to anyone on the instance.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from nbctl_cloud.errors import UserError

from .errors import call

if TYPE_CHECKING:  # pragma: no cover
    from nbctl_cloud.model import JobSpec

    from .ec2 import Ec2

JOB_TAG = "nbctl-job"
REQUIREMENTS_TAG = "nbctl-job-requirements"
TAG_VALUE_LIMIT = 256  # characters of a tag value
MOST_RESTARTS = 10 ** 6  # the longest pointer checked up front is that of this attempt


def pointer(job: "JobSpec", restart: int) -> str:
    """Where attempt `restart` of `job` is written: what the `nbctl-job` tag names."""
    return f"{job.status_url}/launch-{int(restart)}.json"


def check(job: "JobSpec", instance_profile: str | None) -> None:
    """UserError, before any machine is made, when the job cannot be handed over by a tag, or
    its instance could not reach its s3:// storage (no instance profile to give it
    credentials: nbctl never puts any on the machine)."""
    if job.checkpoint_url.startswith(("s3://", "s3a://")) and not instance_profile:
        raise UserError(f"{job.checkpoint_url} is S3: the instance reaches it with the "
                        f"credentials of an IAM instance profile; set `instance_profile` under "
                        f"[providers.aws] in nbctl's config.toml to one that can read and write "
                        f"that bucket")
    longest = pointer(job, MOST_RESTARTS)
    if len(longest) > TAG_VALUE_LIMIT:
        raise UserError(f"--checkpoint-url is too long for EC2: nbctl names each attempt in an "
                        f"instance tag of at most {TAG_VALUE_LIMIT} characters, and "
                        f"{longest!r} has {len(longest)}: use a checkpoint URL at least "
                        f"{len(longest) - TAG_VALUE_LIMIT} characters shorter")


def run_job(ec2: "Ec2", name: str, region: str, job: "JobSpec", restart: int) -> None:
    """Write attempt `restart` into the job's storage and point the instance's tag at it;
    the same attempt twice is a no-op."""
    from nbctl_cloud.runtime_bundle import write_attempt
    d = ec2.require(name, region)
    url = pointer(job, restart)
    tags = {t["Key"]: t["Value"] for t in d.get("Tags") or []}
    if tags.get(JOB_TAG) == url:
        return
    fields = write_attempt(job, restart, url)
    call(ec2.client(region).create_tags, action=f"start job {job.run_id} on {name}",
         Resources=[d["InstanceId"]],
         Tags=[{"Key": JOB_TAG, "Value": url},
               {"Key": REQUIREMENTS_TAG, "Value": " ".join(fields["requirements"])}])


def cancel_job(ec2: "Ec2", name: str, region: str, run_id: str) -> None:
    """Delete the job's tags (the launcher then SIGTERMs it); another job's, or none: no-op."""
    d = ec2.find(name, region)
    if d is None:
        return
    current = {t["Key"]: t["Value"] for t in d.get("Tags") or []}.get(JOB_TAG) or ""
    if f"/{run_id}/launch-" not in current:
        return
    call(ec2.client(region).delete_tags, action=f"cancel job {run_id} on {name}",
         Resources=[d["InstanceId"]], Tags=[{"Key": JOB_TAG}, {"Key": REQUIREMENTS_TAG}])
