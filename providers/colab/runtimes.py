"""Colab Enterprise runtimes and the runtime templates they are assigned from, through
aiplatform_v1's NotebookService (always over REST).

Each nbctl machine is one runtime (its id is the machine's name) assigned from one template
of nbctl's, labelled like the runtime (nbctl-name, nbctl-owner, nbctl-spec-hash): the template
is found by those labels, or made, with an id derived from the spec hash and the idle timeout
(so a retried create finds it instead of making a second). Long-running operations are polled
with the configured client's get_operation, so waiting talks to the same endpoint as every
other call.
"""
from __future__ import annotations

import hashlib
import time
from datetime import datetime

from nbctl_cloud.catalog import load_catalog
from nbctl_cloud.errors import NbctlError, NotFound
from nbctl_cloud.model import (
    LABEL_NAME,
    LABEL_OWNER,
    LABEL_SPEC_HASH,
    Instance,
    InstanceSpec,
    State,
)
from nbctl_cloud.providers.gcp.common import filter_expr, labels_for

from . import faults
from .clients import Clients
from .clients import aiplatform_v1 as ap
from .settings import Settings
from .states import runtime_state

BACKEND = "runtime"
PROVIDER = "colab"
# The Colab Enterprise Runtimes page of the Google Cloud console ("Manage runtimes",
# cloud.google.com/colab/docs/manage-runtimes: "go to the Colab Enterprise Runtimes page").
CONSOLE_URL = "https://console.cloud.google.com/vertex-ai/colab/runtimes?project={project}"
_STOPPING = {"STOPPED", "BEING_STOPPED"}
_STARTING = {"RUNNING", "BEING_STARTED", "BEING_UPGRADED"}


def template_id(spec: InstanceSpec, idle_minutes: int | None) -> str:
    """The template's id: the same spec and idle timeout always name the same template."""
    key = f"{spec.owner}/{spec.spec_hash()}/{idle_minutes or 0}"
    return "nbctl-" + hashlib.sha256(key.encode()).hexdigest()[:16]


class Runtimes:
    def __init__(self, clients: Clients, settings: Settings, owner: str):
        self.c = clients
        self.s = settings
        self.owner = owner

    def parent(self, region: str) -> str:
        return f"projects/{self.s.require_project()}/locations/{region}"

    def path(self, name: str, region: str) -> str:
        return f"{self.parent(region)}/notebookRuntimes/{name}"

    # -- operations --------------------------------------------------------------------
    def wait(self, region: str, op_name: str, *, action: str) -> None:
        """Poll the operation on the configured endpoint until it is done; its error, if
        any, raised as nbctl's."""
        deadline = time.monotonic() + self.s.operation_timeout
        interval = 0.05
        while True:
            op = faults.call(self.c.service(region).get_operation, request={"name": op_name},
                             action=action)
            if op.done:
                if op.HasField("error") and op.error.code:
                    raise faults.to_error(faults.operation_fault(op.error), action=action)
                return
            if time.monotonic() > deadline:
                raise NbctlError(f"{action}: operation {op_name} not done after "
                                 f"{int(self.s.operation_timeout)}s; check `nbctl status "
                                 f"--refresh`")
            time.sleep(interval)
            interval = min(interval * 2, 5.0)

    # -- templates ---------------------------------------------------------------------
    def templates_of(self, name: str, region: str,
                     spec_hash: str | None = None) -> list[ap.NotebookRuntimeTemplate]:
        """nbctl's templates for the machine `name` (of this spec hash, where given) in the
        region, found by their labels: one list call."""
        labels = {LABEL_NAME: name, LABEL_OWNER: self.owner}
        if spec_hash:
            labels[LABEL_SPEC_HASH] = spec_hash
        pager = faults.call(self.c.service(region).list_notebook_runtime_templates,
                            request=ap.ListNotebookRuntimeTemplatesRequest(
                                parent=self.parent(region), filter=filter_expr(labels, BACKEND)),
                            action=f"list runtime templates in {region}")
        return list(pager)

    def ensure_template(self, spec: InstanceSpec, region: str, idle_minutes: int | None) -> str:
        """The template of this spec and idle timeout in the region, found or made."""
        tid = template_id(spec, idle_minutes)
        name = f"{self.parent(region)}/notebookRuntimeTemplates/{tid}"
        if any(t.name == name for t in self.templates_of(spec.name, region, spec.spec_hash())):
            return name
        action = f"create the runtime template of {spec.name} in {region}"
        try:
            lro = faults.call(self.c.service(region).create_notebook_runtime_template,
                              request=ap.CreateNotebookRuntimeTemplateRequest(
                                  parent=self.parent(region), notebook_runtime_template_id=tid,
                                  notebook_runtime_template=self._template(spec, idle_minutes)),
                              action=action)
        except NbctlError as e:
            if e.code != "alreadyExists":  # made moments ago by a create retried
                raise
            return name
        self.wait(region, lro.operation.name, action=action)
        return name

    def _template(self, spec: InstanceSpec, idle_minutes: int | None) -> ap.NotebookRuntimeTemplate:
        offer = load_catalog().cheapest(PROVIDER, spec.gpu, spec.gpu_count, spot=False,
                                        backend=BACKEND)
        machine = ap.MachineSpec(machine_type=offer.instance_type,
                                 accelerator_type=ap.AcceleratorType[offer.accelerator],
                                 accelerator_count=spec.gpu_count)
        tpl = ap.NotebookRuntimeTemplate(display_name=f"nbctl {spec.name}", machine_spec=machine,
                                         labels=labels_for(spec, BACKEND))
        if spec.disk_gb:
            tpl.data_persistent_disk_spec = ap.PersistentDiskSpec(disk_size_gb=spec.disk_gb)
        if idle_minutes:
            tpl.idle_shutdown_config = ap.NotebookIdleShutdownConfig(
                idle_timeout={"seconds": idle_minutes * 60})
        return tpl

    def in_use(self, template: str, region: str) -> bool:
        """Whether any runtime was assigned from the template (one list call)."""
        tid = template.rsplit("/", 1)[-1]
        pager = faults.call(self.c.service(region).list_notebook_runtimes,
                            request=ap.ListNotebookRuntimesRequest(
                                parent=self.parent(region), page_size=1,
                                filter=f'notebookRuntimeTemplate="{tid}"'),
                            action=f"list the runtimes of {tid}")
        return next(iter(pager), None) is not None

    def delete_unused_templates(self, name: str, region: str) -> None:
        """Delete the machine's templates in the region that no runtime uses; wait for it."""
        for tpl in self.templates_of(name, region):
            if self.in_use(tpl.name, region):
                continue
            action = f"delete the runtime template of {name}"
            try:
                lro = faults.call(self.c.service(region).delete_notebook_runtime_template,
                                  name=tpl.name, action=action)
            except NotFound:
                continue
            self.wait(region, lro.operation.name, action=action)

    # -- create ------------------------------------------------------------------------
    def create(self, spec: InstanceSpec, region: str, idle_minutes: int | None,
               runtime_user: str) -> Instance:
        """Find or make the template, assign the runtime from it and wait for the assign
        operation (no capacity shows there). Whatever fails after the template was made
        deletes it again, unless a runtime uses it."""
        template = self.ensure_template(spec, region, idle_minutes)
        action = f"assign runtime {spec.name} in {region}"
        try:
            lro = faults.call(self.c.service(region).assign_notebook_runtime,
                              request=ap.AssignNotebookRuntimeRequest(
                                  parent=self.parent(region), notebook_runtime_template=template,
                                  notebook_runtime_id=spec.name,
                                  notebook_runtime=ap.NotebookRuntime(
                                      runtime_user=runtime_user, display_name=spec.name,
                                      labels=labels_for(spec, BACKEND))),
                              action=action)
            self.wait(region, lro.operation.name, action=action)
        except BaseException:
            try:
                self.delete_unused_templates(spec.name, region)
            except NbctlError:
                pass  # the first error matters more; `down` deletes the template again
            raise
        return self.get(spec.name, region) or Instance(
            name=spec.name, provider=PROVIDER, state=State.PENDING, zone=region,
            backend=BACKEND, gpu=spec.gpu, gpu_count=spec.gpu_count)

    # -- read --------------------------------------------------------------------------
    def get_raw(self, name: str, region: str) -> ap.NotebookRuntime | None:
        try:
            return faults.call(self.c.service(region).get_notebook_runtime,
                               name=self.path(name, region), action=f"get {name}")
        except NotFound:
            return None

    def get(self, name: str, region: str) -> Instance | None:
        raw = self.get_raw(name, region)
        return self.to_instance(raw) if raw is not None else None

    def list(self, labels: dict[str, str] | None, regions: list[str]) -> list[Instance]:
        """One list call per region (more only when the answer spans pages)."""
        out = []
        for region in regions:
            pager = faults.call(self.c.service(region).list_notebook_runtimes,
                                request=ap.ListNotebookRuntimesRequest(
                                    parent=self.parent(region),
                                    filter=filter_expr(labels, BACKEND)),
                                action=f"list runtimes in {region}")
            out += [self.to_instance(r) for r in pager if LABEL_NAME in r.labels]
        return out

    def to_instance(self, raw: ap.NotebookRuntime) -> Instance:
        region = raw.name.split("/")[3]
        labels = dict(raw.labels)
        spec = raw.machine_spec
        gpus = {o.accelerator: o.gpu for o in load_catalog().offers(provider=PROVIDER)}
        accel = spec.accelerator_type.name if spec.accelerator_count else None
        state = raw.runtime_state.name
        created = raw.create_time if isinstance(raw.create_time, datetime) else None
        return Instance(
            name=labels.get(LABEL_NAME, raw.name.rsplit("/", 1)[-1]), provider=PROVIDER,
            state=runtime_state(state), native_id=raw.name, zone=region,
            gpu=gpus.get(accel) if accel else None, gpu_count=spec.accelerator_count,
            backend=BACKEND, labels=labels, created_at=created,
            url=self.console_url() if state == "RUNNING" else None,
            detail=None if state not in ("ERROR", "INVALID") else
            f"Colab Enterprise reports the runtime {state} (health {raw.health_state.name})")

    def console_url(self) -> str:
        return CONSOLE_URL.format(project=self.s.require_project())

    # -- change ------------------------------------------------------------------------
    def stop(self, name: str, region: str) -> None:
        raw = self._existing(name, region)
        if raw.runtime_state.name in _STOPPING:
            return
        faults.call(self.c.service(region).stop_notebook_runtime, name=raw.name,
                    action=f"stop {name}")

    def start(self, name: str, region: str) -> None:
        """Start it and wait for the start operation: no capacity shows there."""
        raw = self._existing(name, region)
        if raw.runtime_state.name in _STARTING:
            return
        action = f"start {name}"
        lro = faults.call(self.c.service(region).start_notebook_runtime, name=raw.name,
                          action=action)
        self.wait(region, lro.operation.name, action=action)

    def _existing(self, name: str, region: str) -> ap.NotebookRuntime:
        raw = self.get_raw(name, region)
        if raw is None:
            raise NotFound(f"{name} does not exist in {region}")
        return raw

    def delete(self, name: str, regions: list[str]) -> None:
        """Delete the runtime where it is (waiting for that), then the machine's templates
        that no runtime uses, in each of `regions`."""
        for region in regions:
            raw = self.get_raw(name, region)
            if raw is not None:
                action = f"delete {name}"
                try:
                    lro = faults.call(self.c.service(region).delete_notebook_runtime,
                                      name=raw.name, action=action)
                    self.wait(region, lro.operation.name, action=action)
                except NotFound:
                    pass
            self.delete_unused_templates(name, region)
