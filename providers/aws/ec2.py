"""`--preemptible` notebooks: EC2 spot instances with a Deep Learning AMI.

The spot request is persistent with InstanceInterruptionBehavior=stop, so a reclaimed
instance stops (keeping its disk) and can be started again. Jupyter and nbctl's agent (idle
shutdown with `shutdown -h now`, which stops the instance since InstanceInitiatedShutdown-
Behavior is stop; spot notices on IMDS) and nbctl's job launcher (the attempts `nbctl run`
names in the instance tag `nbctl-job`, read from the instance metadata) start from the user
data at every boot: cloud-init runs a user-data script only at an instance's first boot, so the
user data is a MIME multi-part whose cloud-config part runs `scripts-user` always (AWS's
documented recipe, "How can I utilize user data to automatically run a script with every
restart of my EC2 instance?", and cloud-init's "User data formats"), gzip-compressed (cloud-init
uncompresses it) to stay within EC2's 16 KB of user data.

Instances are found by their `nbctl-name` tag: one DescribeInstances per region.
"""
from __future__ import annotations

import gzip
import hashlib
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from nbctl_cloud.errors import NbctlError, NotFound, UserError
from nbctl_cloud.locations import each_place
from nbctl_cloud.model import LABEL_NAME, Instance, Preemption

from .errors import call

if TYPE_CHECKING:
    from nbctl_cloud.tunnel import SshRoute
from .settings import Settings, region_of
from .states import SPOT_REQUEST_INTERRUPTED, SPOT_STATE_REASONS, ec2_state

BACKEND = "ec2"
USER_DATA_LIMIT = 16384  # "User data is limited to 16 KB, in raw form, before it is base64-encoded"
JOB_HOME = "/root"  # where a job without a working directory runs
STOP_COMMAND = "shutdown -h now"  # stops the instance: InstanceInitiatedShutdownBehavior=stop
LIVE_STATES = ["pending", "running", "stopping", "stopped", "shutting-down"]


def client_token(name: str, spec_hash: str, zone: str, launch: str) -> str:
    """RunInstances' idempotency key: the same launch asked twice is launched once. `launch`
    (see launches.py) changes once the instance is deleted, since EC2 keeps answering a token
    with the instance it first launched, for a while even after that one is terminated."""
    return hashlib.sha256(f"nbctl|{name}|{spec_hash}|{zone}|{launch}".encode()).hexdigest()[:64]


def user_data(*, name: str, idle_timeout: int | None, metadata_url: str | None,
              jupyter_port: int) -> bytes:
    """The boot script: Jupyter on the instance's loopback, nbctl's agent watching spot
    notices, nbctl's job launcher, and `nbctl-admin` allowed in with this instance's public
    key, as gzipped user data. No secret: the same for every launch of this name, so a retried
    RunInstances is the same request."""
    from nbctl_cloud.bootscript import JOB_DIR, POWER_OFF, launcher_section, startup_script
    from nbctl_cloud.tunnel import instance_key

    script = startup_script(stop_command=STOP_COMMAND, idle_timeout=idle_timeout,
                            preemption="ec2", metadata_url=metadata_url,
                            jupyter_port=jupyter_port, authorized_key=instance_key("aws", name)[1],
                            fallback_stop_command=POWER_OFF, job_dir=JOB_DIR)
    script += launcher_section(source="ec2", metadata_url=metadata_url, home=JOB_HOME)
    data = gzip.compress(every_boot(script).encode(), compresslevel=9, mtime=0)
    if len(data) > USER_DATA_LIMIT:  # nbctl's own boot script outgrew EC2's limit: a bug
        raise ValueError(f"the user data is {len(data)} bytes, over EC2's {USER_DATA_LIMIT}")
    return data


EVERY_BOOT = "#cloud-config\ncloud_final_modules:\n- [scripts-user, always]\n"
BOUNDARY = "nbctl-user-data-boundary"


def every_boot(script: str) -> str:
    """`script` as user data that cloud-init runs at every boot, not only the first."""
    from email.mime.multipart import MIMEMultipart
    from email.mime.text import MIMEText

    if BOUNDARY in script:
        raise ValueError("the boot script holds the MIME boundary")
    msg = MIMEMultipart(boundary=BOUNDARY)  # fixed: the same spec is the same request
    for body, subtype, filename in ((EVERY_BOOT, "cloud-config", "cloud-config.txt"),
                                    (script, "x-shellscript", "nbctl-boot.sh")):
        part = MIMEText(body, subtype, "us-ascii")
        part.add_header("Content-Disposition", "attachment", filename=filename)
        msg.attach(part)
    return msg.as_string()


def gpu_of(instance_type: str) -> tuple[str | None, int]:
    from nbctl_cloud.catalog import load_catalog

    for o in load_catalog().offers(provider="aws", backend=BACKEND):
        if o.instance_type == instance_type:
            return o.gpu, o.count
    return None, 0


def _tags(d: dict) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in d.get("Tags") or []}


class Ec2:
    def __init__(self, clients, settings: Settings, owner: str):
        self.clients = clients
        self.s = settings
        self.owner = owner

    def client(self, region: str):
        return self.clients.get("ec2", region)

    # -- reading -------------------------------------------------------------------------
    def describe(self, region: str, filters: list[dict]) -> list[dict]:
        """Every live instance matching filters in region (terminated ones are gone)."""
        filters = [*filters, {"Name": "instance-state-name", "Values": LIVE_STATES}]
        out, token = [], None
        while True:  # pages of 1000, the most MaxResults allows
            kw = {"Filters": filters, "MaxResults": 1000, **({"NextToken": token} if token else {})}
            page = call(self.client(region).describe_instances, action="describe instances", **kw)
            out += [i for r in page.get("Reservations", []) for i in r.get("Instances", [])]
            token = page.get("NextToken")
            if not token:
                return out

    def find(self, name: str, region: str) -> dict | None:
        found = self.describe(region, [{"Name": f"tag:{LABEL_NAME}", "Values": [name]}])
        return found[0] if found else None

    def to_instance(self, d: dict) -> Instance:
        tags = _tags(d)
        reason = (d.get("StateReason") or {}).get("Code")
        state = ec2_state(d["State"]["Name"], reason)
        gpu, count = gpu_of(d.get("InstanceType", ""))
        detail = (d.get("StateReason") or {}).get("Message") or None
        return Instance(
            name=tags.get(LABEL_NAME, d["InstanceId"]), provider="aws", state=state,
            native_id=d["InstanceId"], zone=(d.get("Placement") or {}).get("AvailabilityZone"),
            gpu=gpu, gpu_count=count, preemptible=d.get("InstanceLifecycle") == "spot",
            backend=BACKEND, labels={k: v for k, v in tags.items()
                                              if k.startswith("nbctl-")},
            created_at=d.get("LaunchTime"), detail=detail,
            booted_at=d.get("LaunchTime"))  # EC2: "the time the instance was last launched"

    def get(self, name: str, region: str) -> Instance | None:
        d = self.find(name, region)
        return self.to_instance(d) if d else None

    def list(self, labels: dict[str, str] | None, regions: list[str]) -> list[Instance]:
        """One DescribeInstances (paged) per region, the regions at once, filtered by the
        nbctl tags."""
        filters = [{"Name": "tag-key", "Values": [LABEL_NAME]}]
        filters += [{"Name": f"tag:{k}", "Values": [v]} for k, v in (labels or {}).items()]
        return [self.to_instance(d) for found in each_place(
            lambda region: self.describe(region, filters), regions) for d in found]

    # -- the verbs -----------------------------------------------------------------------
    def create(self, spec, zone: str, launch: str) -> Instance:
        """RunInstances as a persistent spot instance; returns once EC2 accepted it. The
        request is a function of (spec, zone, launch id, this computer's key, the newest Deep
        Learning AMI), so a retry of one launch is byte for byte the same request."""
        from nbctl_cloud.catalog import load_catalog

        region = region_of(zone)
        offer = load_catalog().cheapest("aws", spec.gpu, spec.gpu_count, spot=True,
                                        backend=BACKEND)
        image_id, root_device = self.image(spec.image, region)
        # spec.labels hold nbctl's labels (the core stamped them); Name is what the console shows.
        tags = [{"Key": k, "Value": v} for k, v in spec.labels.items()]
        tags.append({"Key": "Name", "Value": spec.name})
        token = client_token(spec.name, spec.spec_hash(), zone, launch)
        params = {
            "ImageId": image_id, "InstanceType": offer.instance_type, "MinCount": 1, "MaxCount": 1,
            "Placement": {"AvailabilityZone": zone},
            "ClientToken": token,
            "UserData": user_data(name=spec.name, idle_timeout=spec.idle_timeout,
                                  metadata_url=self.s.metadata_url,
                                  jupyter_port=self.s.jupyter_port),
            "InstanceInitiatedShutdownBehavior": "stop",
            "InstanceMarketOptions": {"MarketType": "spot", "SpotOptions": {
                "SpotInstanceType": "persistent", "InstanceInterruptionBehavior": "stop"}},
            "TagSpecifications": [{"ResourceType": "instance", "Tags": tags},
                                  {"ResourceType": "volume", "Tags": tags}],
            # IMDSv2 only; the agent asks for a session token before reading spot notices.
            # The launcher reads the job's tag there (InstanceMetadataTags; tags hold no secret).
            "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled",
                                "InstanceMetadataTags": "enabled"},
        }
        if spec.disk_gb:
            params["BlockDeviceMappings"] = [{"DeviceName": root_device, "Ebs": {
                "VolumeSize": spec.disk_gb, "VolumeType": "gp3", "DeleteOnTermination": True}}]
        if self.s.key_name:
            params["KeyName"] = self.s.key_name
        if self.s.security_group_ids:
            params["SecurityGroupIds"] = list(self.s.security_group_ids)
        if self.s.subnet_ids.get(zone):
            params["SubnetId"] = self.s.subnet_ids[zone]
        if self.s.instance_profile:
            key = "Arn" if self.s.instance_profile.startswith("arn:") else "Name"
            params["IamInstanceProfile"] = {key: self.s.instance_profile}
        # Retried (TransientError) with these very params: the same request each time.
        d = call(self.client(region).run_instances, action=f"launch {spec.name} in {zone}",
                 **params)["Instances"][0]
        return self.to_instance(d)

    def image(self, image: str | None, region: str) -> tuple[str, str]:
        """(AMI id, root device name): --image, else the configured AMI, else the newest
        Deep Learning AMI whose name matches `ami_name`."""
        ec2 = self.client(region)
        wanted = image or self.s.ami
        if wanted:
            found = call(ec2.describe_images, action="describe image", ImageIds=[wanted])["Images"]
        else:
            found = call(ec2.describe_images, action="find the Deep Learning AMI",
                         Owners=list(self.s.ami_owners),
                         Filters=[{"Name": "name", "Values": [self.s.ami_name]},
                                  {"Name": "state", "Values": ["available"]},
                                  {"Name": "architecture", "Values": ["x86_64"]}])["Images"]
        if not found:
            what = f"image {wanted}" if wanted else f"no AMI named {self.s.ami_name!r}"
            raise UserError(f"{what} in {region}: pass --image ami-..., or set `ami` or "
                            f"`ami_name` under [providers.aws] in nbctl's config.toml")
        newest = max(found, key=lambda i: i.get("CreationDate") or "")
        return newest["ImageId"], newest.get("RootDeviceName") or "/dev/xvda"

    def stop(self, name: str, region: str) -> None:
        d = self.require(name, region)
        if d["State"]["Name"] in ("stopping", "stopped"):
            return
        call(self.client(region).stop_instances, action=f"stop {name}", InstanceIds=[d["InstanceId"]])

    def start(self, name: str, region: str) -> str | None:
        """StartInstances; an interrupted spot instance is not started: only EC2 restarts it,
        when capacity returns (a StartInstances is refused), so the note says so."""
        d = self.require(name, region)
        if d["State"]["Name"] in ("pending", "running"):
            return None
        if (d.get("StateReason") or {}).get("Code") in SPOT_STATE_REASONS:
            return (f"{name} was interrupted by EC2, which alone restarts it, once spot "
                    f"capacity returns in {(d.get('Placement') or {}).get('AvailabilityZone')}")
        call(self.client(region).start_instances, action=f"start {name}",
             InstanceIds=[d["InstanceId"]])
        return None

    def delete(self, name: str, region: str) -> None:
        """Cancel the persistent spot request first (else it launches a replacement), then
        terminate. Missing: return silently."""
        d = self.find(name, region)
        if d is None or d["State"]["Name"] == "shutting-down":
            return
        ec2 = self.client(region)
        request = d.get("SpotInstanceRequestId")
        if request:
            try:
                call(ec2.cancel_spot_instance_requests, action=f"cancel spot request of {name}",
                     SpotInstanceRequestIds=[request])
            except NotFound:
                pass  # already gone
        call(ec2.terminate_instances, action=f"terminate {name}", InstanceIds=[d["InstanceId"]])

    def set_idle_shutdown(self, name: str, region: str, timeout: int | None) -> str | None:
        """Rewrite the user data with the new timeout (EC2 allows that only when stopped)."""
        d = self.require(name, region)
        if d["State"]["Name"] != "stopped":
            raise NbctlError(f"{name} is {d['State']['Name']}: EC2 changes user data only on a "
                             f"stopped instance; `nbctl stop {name}` first")
        script = user_data(name=name, idle_timeout=timeout, metadata_url=self.s.metadata_url,
                           jupyter_port=self.s.jupyter_port)
        call(self.client(region).modify_instance_attribute, action=f"set idle timeout of {name}",
             InstanceId=d["InstanceId"], UserData={"Value": script})
        return None

    def notebook_url(self, name: str, region: str) -> "SshRoute":
        """The SSH route to the instance's Jupyter (on its loopback), with this instance's key."""
        from nbctl_cloud.bootscript import SSH_USER, TOKEN_COMMAND
        from nbctl_cloud.tunnel import SshRoute, instance_key

        d = self.require(name, region)
        ip = d.get("PublicIpAddress")
        if not ip or d["State"]["Name"] != "running":
            raise NbctlError(f"{name} has no public IP yet (is it RUNNING?)")
        return SshRoute(host=ip, port=self.s.ssh_port, user=SSH_USER,
                        key_path=instance_key("aws", name)[0],
                        host_alias=f"aws-{name}-{d['InstanceId']}",
                        remote_port=self.s.jupyter_port, token_command=TOKEN_COMMAND)

    def preemptions(self, since: datetime, regions: list[str]) -> list[Preemption]:
        """Spot instances EC2 reclaimed: their StateReason, or their spot request's status.
        One DescribeInstances and one DescribeSpotInstanceRequests per region."""
        out: list[Preemption] = []
        for region in regions:
            mine = [d for d in self.describe(region, [{"Name": "tag-key", "Values": [LABEL_NAME]}])
                    if d.get("InstanceLifecycle") == "spot"]
            by_request = {d["SpotInstanceRequestId"]: d for d in mine if d.get("SpotInstanceRequestId")}
            statuses = {}
            if by_request:
                reqs = call(self.client(region).describe_spot_instance_requests,
                            action="describe spot requests",
                            SpotInstanceRequestIds=list(by_request))["SpotInstanceRequests"]
                statuses = {r["SpotInstanceRequestId"]: r.get("Status") or {} for r in reqs}
            for d in mine:
                reason = (d.get("StateReason") or {}).get("Code")
                status = statuses.get(d.get("SpotInstanceRequestId"), {})
                at = status.get("UpdateTime")
                at = at.replace(tzinfo=at.tzinfo or timezone.utc) if at else None
                if reason in SPOT_STATE_REASONS:  # down right now because EC2 reclaimed it
                    source = f"ec2 StateReason {reason}"
                    at = at if at and at >= since else datetime.now(timezone.utc)
                elif status.get("Code") in SPOT_REQUEST_INTERRUPTED and at and at >= since:
                    source = f"ec2 spot request {status['Code']}"
                else:
                    continue
                inst = self.to_instance(d)
                out.append(Preemption(name=inst.name, native_id=d["InstanceId"],
                                      zone=inst.zone, at=at, source=source))
        return out

    # -- helpers -------------------------------------------------------------------------
    def require(self, name: str, region: str) -> dict:
        d = self.find(name, region)
        if d is None:
            raise NotFound(f"no EC2 instance named {name!r} in {region}: see "
                           f"`nbctl status --refresh`")
        return d
