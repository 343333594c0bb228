"""On-demand notebooks: SageMaker notebook instances.

Idle auto-stop is a notebook lifecycle configuration (OnStart) that installs and starts
nbctl's agent, inlined in the script (no download at boot); the agent stops the notebook
through the instance's own role with the aws CLI. The notebook's URL for a person is a
presigned URL (CreatePresignedNotebookInstanceUrl); the stored one is the console page.

SageMaker's list has no tag filter: a listing reads the tags of every nbctl notebook at once
through the Resource Groups Tagging API (GetResources); `get` reads one notebook's (ListTags).
Tags are kept by ARN for the life of the process, since nbctl's tags never change after create.
"""
from __future__ import annotations

import base64
import hashlib
import os
import time

from nbctl_cloud.errors import NbctlError, NotFound, UserError
from nbctl_cloud.locations import each_place
from nbctl_cloud.model import LABEL_NAME, Instance

from .errors import call
from .settings import Settings
from .states import sagemaker_state

BACKEND = "sagemaker"
RESOURCE_TYPE = "sagemaker:notebook-instance"  # in the Resource Groups Tagging API
LIFECYCLE_LIMIT = 16384  # characters of base64 content per lifecycle script
JUPYTER_PORT = 8443  # where a notebook instance's own Jupyter listens (https, localhost)
METADATA_FILE = "/opt/ml/metadata/resource-metadata.json"
# Read the notebook's own name and region from its metadata file, then stop it with the
# instance's credentials (its execution role needs sagemaker:StopNotebookInstance).
STOP_COMMAND = (
    f"M={METADATA_FILE}; "
    "N=$(python3 -c \"import json;print(json.load(open('$M'))['ResourceName'])\"); "
    "R=$(python3 -c \"import json;print(json.load(open('$M'))['ResourceArn'].split(':')[3])\"); "
    "PATH=$PATH:/usr/local/bin:/usr/bin aws sagemaker stop-notebook-instance "
    "--region \"$R\" --notebook-instance-name \"$N\""
)
DELETE_WAIT = 900.0  # seconds `delete` waits for a notebook to stop before deleting it


def lifecycle_config_name(name: str) -> str:
    """Per-notebook config name within SageMaker's 63 characters, unique per notebook."""
    digest = hashlib.sha256(name.encode()).hexdigest()[:10]
    return f"nbctl-{name[:46]}-{digest}"


def on_start_script(idle_timeout: int | None) -> str:
    """The OnStart script: nbctl's agent, inlined, watching the notebook's own Jupyter."""
    from nbctl_cloud.bootscript import startup_script

    script = startup_script(stop_command=STOP_COMMAND, idle_timeout=idle_timeout,
                            preemption=None, jupyter_port=JUPYTER_PORT,
                            notebook_dir="/home/ec2-user/SageMaker", start_jupyter=False)
    # The notebook's Jupyter serves https on localhost.
    return script.replace(f"http://127.0.0.1:{JUPYTER_PORT}", f"https://127.0.0.1:{JUPYTER_PORT}")


def encode_script(script: str) -> str:
    content = base64.b64encode(script.encode()).decode()
    if len(content) > LIFECYCLE_LIMIT:
        raise UserError(f"the idle-shutdown script is {len(content)} base64 characters, over "
                        f"SageMaker's {LIFECYCLE_LIMIT}-character limit for lifecycle scripts")
    return content


def console_url(name: str, region: str) -> str:
    return (f"https://{region}.console.aws.amazon.com/sagemaker/home?region={region}"
            f"#/notebook-instances/{name}")


def gpu_of(instance_type: str) -> tuple[str | None, int]:
    from nbctl_cloud.catalog import load_catalog

    for o in load_catalog().offers(provider="aws", backend=BACKEND):
        if o.instance_type == instance_type:
            return o.gpu, o.count
    return None, 0


def _poll_interval() -> float:
    try:
        return float(os.environ["NBCTL_POLL_INTERVAL"])
    except (KeyError, ValueError):
        return 10.0


class SageMaker:
    def __init__(self, clients, settings: Settings, owner: str):
        self.clients = clients
        self.s = settings
        self.owner = owner
        self._tags: dict[str, dict[str, str]] = {}  # ARN -> tags

    def _sm(self, region: str):
        return self.clients.get("sagemaker", region)

    # -- reading -------------------------------------------------------------------------
    def describe(self, name: str, region: str) -> dict | None:
        try:
            return call(self._sm(region).describe_notebook_instance, action=f"describe {name}",
                        NotebookInstanceName=name)
        except NotFound:
            return None

    def tags(self, arn: str, region: str) -> dict[str, str]:
        if arn not in self._tags:
            out, token = {}, None
            while True:
                kw = {"ResourceArn": arn, **({"NextToken": token} if token else {})}
                page = call(self._sm(region).list_tags, action="read notebook tags", **kw)
                out.update({t["Key"]: t["Value"] for t in page.get("Tags", [])})
                token = page.get("NextToken")
                if not token:
                    break
            self._tags[arn] = out
        return self._tags[arn]

    def to_instance(self, d: dict, region: str, tags: dict[str, str]) -> Instance:
        name = d["NotebookInstanceName"]
        gpu, count = gpu_of(d.get("InstanceType", ""))
        return Instance(
            name=name, provider="aws", state=sagemaker_state(d["NotebookInstanceStatus"]),
            native_id=d.get("NotebookInstanceArn"), zone=region, gpu=gpu, gpu_count=count,
            preemptible=False, backend=BACKEND, url=console_url(name, region),
            labels={k: v for k, v in tags.items() if k.startswith("nbctl-")},
            created_at=d.get("CreationTime"), detail=d.get("FailureReason") or None)

    def get(self, name: str, region: str) -> Instance | None:
        """One DescribeNotebookInstance per poll (tags are read once)."""
        d = self.describe(name, region)
        if d is None:
            return None
        return self.to_instance(d, region, self.tags(d["NotebookInstanceArn"], region))

    def list(self, labels: dict[str, str] | None, regions: list[str]) -> list[Instance]:
        """Per region, both at once: ListNotebookInstances, and the Resource Groups Tagging
        API's GetResources of the notebook instances carrying nbctl's tags (pages of 100 each,
        so the requests grow with the pages, not with the notebooks). A notebook is nbctl's
        when GetResources names its ARN; that answer is eventually consistent, so a notebook
        made a moment ago may show at the next refresh (the core asks for a stored one by
        name)."""
        return [i for found in each_place(lambda r: self._list_region(labels, r), regions)
                for i in found]

    def _list_region(self, labels: dict[str, str] | None, region: str) -> list[Instance]:
        notebooks, tagged = each_place(lambda read: read(), [
            lambda: self._notebooks(region), lambda: self._tagged(labels, region)])
        self._tags.update(tagged)
        return [self.to_instance(d, region, tagged[d["NotebookInstanceArn"]])
                for d in notebooks if d["NotebookInstanceArn"] in tagged]

    def _notebooks(self, region: str) -> list[dict]:
        out, token = [], None
        while True:
            kw = {"MaxResults": 100, **({"NextToken": token} if token else {})}
            page = call(self._sm(region).list_notebook_instances,
                        action="list notebook instances", **kw)
            out += page.get("NotebookInstances", [])
            token = page.get("NextToken")
            if not token:
                return out

    def _tagged(self, labels: dict[str, str] | None, region: str) -> dict[str, dict[str, str]]:
        """ARN -> tags of every notebook instance with nbctl's name tag and these labels.
        (GetResources: a filter without Values matches any value of its key.)"""
        filters = [{"Key": LABEL_NAME}] + [{"Key": k, "Values": [v]}
                                           for k, v in sorted((labels or {}).items())]
        tagging = self.clients.get("resourcegroupstaggingapi", region)
        out, token = {}, ""
        while True:
            page = call(tagging.get_resources, action="list tagged notebook instances",
                        TagFilters=filters, ResourceTypeFilters=[RESOURCE_TYPE],
                        ResourcesPerPage=100, **({"PaginationToken": token} if token else {}))
            for r in page.get("ResourceTagMappingList", []):
                out[r["ResourceARN"]] = {t["Key"]: t["Value"] for t in r.get("Tags", [])}
            token = page.get("PaginationToken")
            if not token:
                return out

    # -- the verbs -----------------------------------------------------------------------
    def create(self, spec, region: str) -> Instance:
        """CreateNotebookInstance (after its lifecycle config, when idle shutdown is asked)."""
        from nbctl_cloud.catalog import load_catalog

        role = self.s.require_role()
        offer = load_catalog().cheapest("aws", spec.gpu, spec.gpu_count, spot=False,
                                        backend=BACKEND)
        tags = [{"Key": k, "Value": v} for k, v in spec.labels.items()]  # nbctl's among them
        params = {"NotebookInstanceName": spec.name, "InstanceType": offer.instance_type,
                  "RoleArn": role, "Tags": tags, "DirectInternetAccess": "Enabled",
                  "RootAccess": "Enabled"}
        if spec.disk_gb:
            params["VolumeSizeInGB"] = spec.disk_gb
        if spec.idle_timeout:
            params["LifecycleConfigName"] = self.put_lifecycle_config(spec.name, region,
                                                                      spec.idle_timeout)
        try:
            call(self._sm(region).create_notebook_instance, action=f"create {spec.name}", **params)
        except UserError as e:
            if "duplicate" not in e.message.lower():
                raise
            # Another nbctl created it between our look and our create: return that one.
        inst = self.get(spec.name, region)
        if inst is None:
            raise NbctlError(f"SageMaker accepted {spec.name} but does not show it yet; "
                             f"run `nbctl status {spec.name} --refresh`")
        return inst

    def put_lifecycle_config(self, name: str, region: str, idle_timeout: int | None) -> str:
        """Create (or rewrite) this notebook's lifecycle config; returns its name."""
        config = lifecycle_config_name(name)
        content = encode_script(on_start_script(idle_timeout))
        sm = self._sm(region)
        try:
            call(sm.describe_notebook_instance_lifecycle_config, action="read lifecycle config",
                 NotebookInstanceLifecycleConfigName=config)
            exists = True
        except (NotFound, UserError):  # SageMaker says "does not exist" as a ValidationException
            exists = False
        if exists:
            call(sm.update_notebook_instance_lifecycle_config, action="update lifecycle config",
                 NotebookInstanceLifecycleConfigName=config, OnStart=[{"Content": content}])
        else:
            call(sm.create_notebook_instance_lifecycle_config, action="create lifecycle config",
                 NotebookInstanceLifecycleConfigName=config, OnStart=[{"Content": content}])
        return config

    def stop(self, name: str, region: str) -> None:
        d = self._require(name, region)
        status = d["NotebookInstanceStatus"]
        if status in ("Stopping", "Stopped", "Failed"):
            return
        if status != "InService":
            raise NbctlError(f"{name} is {status}: SageMaker stops only notebooks that are "
                             f"InService; try again when it is RUNNING")
        call(self._sm(region).stop_notebook_instance, action=f"stop {name}",
             NotebookInstanceName=name)

    def start(self, name: str, region: str) -> None:
        d = self._require(name, region)
        status = d["NotebookInstanceStatus"]
        if status in ("Pending", "InService", "Updating"):
            return
        if status == "Stopping":
            raise NbctlError(f"{name} is still stopping: start it when it is STOPPED")
        call(self._sm(region).start_notebook_instance, action=f"start {name}",
             NotebookInstanceName=name)

    def delete(self, name: str, region: str) -> None:
        """Stop it if needed (SageMaker deletes only stopped notebooks, so this waits for the
        stop), detach and delete its lifecycle config, then delete it. Missing: no-op."""
        sm = self._sm(region)
        d = self._wait_settled(name, region)
        if d is None or d["NotebookInstanceStatus"] == "Deleting":
            return
        if d["NotebookInstanceStatus"] == "InService":
            call(sm.stop_notebook_instance, action=f"stop {name}", NotebookInstanceName=name)
            d = self._wait_settled(name, region)
            if d is None or d["NotebookInstanceStatus"] == "Deleting":
                return
        config = d.get("NotebookInstanceLifecycleConfigName")
        if config:
            call(sm.update_notebook_instance, action=f"detach lifecycle config of {name}",
                 NotebookInstanceName=name, DisassociateLifecycleConfig=True)
            try:
                call(sm.delete_notebook_instance_lifecycle_config,
                     action="delete lifecycle config", NotebookInstanceLifecycleConfigName=config)
            except (NotFound, UserError):
                pass  # already gone
        call(sm.delete_notebook_instance, action=f"delete {name}", NotebookInstanceName=name)
        self._tags.pop(d.get("NotebookInstanceArn"), None)

    def _wait_settled(self, name: str, region: str) -> dict | None:
        """Describe until the notebook is not Pending/Stopping/Updating (bounded)."""
        deadline = time.monotonic() + DELETE_WAIT
        while True:
            d = self.describe(name, region)
            if d is None or d["NotebookInstanceStatus"] not in ("Pending", "Stopping", "Updating"):
                return d
            if time.monotonic() > deadline:
                raise NbctlError(f"{name} stayed {d['NotebookInstanceStatus']} for "
                                 f"{int(DELETE_WAIT)}s; try `nbctl down {name}` again later")
            time.sleep(_poll_interval())

    def set_idle_shutdown(self, name: str, region: str, timeout: int | None) -> str | None:
        """Rewrite the attached lifecycle config (takes effect at the next start: a note says
        so); a notebook without one gets one attached, which SageMaker allows only while it
        is stopped."""
        d = self._require(name, region)
        attached = d.get("NotebookInstanceLifecycleConfigName")
        if attached == lifecycle_config_name(name):
            self.put_lifecycle_config(name, region, timeout)
            if d["NotebookInstanceStatus"] != "Stopped":
                return (f"{name}: the new idle timeout takes effect at the notebook's next "
                        f"start (SageMaker runs its lifecycle config when it starts)")
            return None
        if timeout is None:
            return None
        if d["NotebookInstanceStatus"] != "Stopped":
            raise NbctlError(f"{name} is {d['NotebookInstanceStatus']}: SageMaker attaches a "
                             f"lifecycle config only to a stopped notebook; `nbctl stop {name}` "
                             f"first")
        config = self.put_lifecycle_config(name, region, timeout)
        call(self._sm(region).update_notebook_instance, action=f"attach idle shutdown to {name}",
             NotebookInstanceName=name, LifecycleConfigName=config)
        return None

    def notebook_url(self, name: str, region: str) -> str:
        """A presigned URL: it signs the person in, so it is shown, never stored."""
        self._require(name, region)
        r = call(self._sm(region).create_presigned_notebook_instance_url,
                 action=f"presign the URL of {name}", NotebookInstanceName=name,
                 SessionExpirationDurationInSeconds=self.s.presigned_url_seconds)
        return r["AuthorizedUrl"]

    def _require(self, name: str, region: str) -> dict:
        d = self.describe(name, region)
        if d is None:
            raise NotFound(f"no SageMaker notebook named {name!r} in {region}: see "
                           f"`nbctl status --refresh`")
        return d
