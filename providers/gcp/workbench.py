"""On-demand notebooks as Vertex AI Workbench instances (notebooks v2, always over REST).

Long-running operations are polled with the configured client's get_operation, so waiting
talks to the same endpoint as every other call.
"""
from __future__ import annotations

import time
import uuid

from google.cloud import notebooks_v2
from nbctl_cloud.catalog import load_catalog
from nbctl_cloud.errors import NbctlError, NotFound
from nbctl_cloud.model import Instance, InstanceSpec, State

from . import faults
from .clients import Clients
from .common import (
    BACKEND_WORKBENCH,
    REQUEST_NAMESPACE,
    WORKBENCH_MIN_DISK_GB,
    labels_for,
)
from .readers import as_json, workbench_instance, workbench_url
from .settings import Settings

IDLE_KEY = "idle-timeout-seconds"
CPU_MACHINE_TYPE = "e2-standard-4"
_STOPPED = {"STOPPED", "STOPPING", "SUSPENDED", "SUSPENDING"}
_RUNNING = {"ACTIVE", "STARTING", "PROVISIONING", "INITIALIZING"}


class Workbench:
    def __init__(self, clients: Clients, settings: Settings, owner: str):
        self.c = clients
        self.s = settings
        self.owner = owner

    @property
    def project(self) -> str:
        return self.s.require_project()

    def _path(self, name: str, zone: str) -> str:
        return f"projects/{self.project}/locations/{zone}/instances/{name}"

    # -- operations --------------------------------------------------------------------
    def wait(self, op_name: str, *, action: str) -> None:
        deadline = time.monotonic() + self.s.operation_timeout
        interval = 0.05
        while True:
            op = faults.call(self.c.notebooks.get_operation, request={"name": op_name}, action=action)
            if op.done:
                if op.HasField("error") and op.error.code:
                    raise faults.to_error(faults.fault_from_rpc_status(op.error.code, op.error.message),
                                          action=action)
                return
            if time.monotonic() > deadline:
                raise NbctlError(f"{action}: Workbench operation {op_name} not done after "
                                 f"{int(self.s.operation_timeout)}s; check `nbctl status --refresh`")
            time.sleep(interval)
            interval = min(interval * 2, 5.0)

    # -- create ------------------------------------------------------------------------
    def create(self, spec: InstanceSpec, zone: str) -> Instance:
        """Create the instance and wait for the create operation (a stockout shows there)."""
        action = f"create {spec.name} in {zone}"
        rid = str(uuid.uuid5(REQUEST_NAMESPACE, f"workbench/{spec.name}/{spec.spec_hash()}/{zone}"))
        try:
            lro = faults.call(self.c.notebooks.create_instance, request=notebooks_v2.CreateInstanceRequest(
                parent=f"projects/{self.project}/locations/{zone}", instance_id=spec.name,
                instance=self._resource(spec), request_id=rid), action=action)
        except NbctlError as e:
            found = self.get(spec.name, zone) if e.code == "alreadyExists" else None
            if found is None:
                raise
            return found
        self.wait(lro.operation.name, action=action)
        return self.get(spec.name, zone) or Instance(
            name=spec.name, provider="gcp", state=State.PENDING, zone=zone,
            backend=BACKEND_WORKBENCH, gpu=spec.gpu, gpu_count=spec.gpu_count)

    def _resource(self, spec: InstanceSpec) -> notebooks_v2.Instance:
        machine, accelerators = CPU_MACHINE_TYPE, []
        if spec.gpu_count:
            offer = load_catalog().cheapest("gcp", spec.gpu, spec.gpu_count, spot=False,
                                            backend="workbench")
            machine = offer.instance_type
            accelerators.append(notebooks_v2.AcceleratorConfig(
                type_=notebooks_v2.AcceleratorConfig.AcceleratorType[offer.accelerator],
                core_count=spec.gpu_count))
        metadata = {}
        if spec.idle_timeout:
            metadata[IDLE_KEY] = str(spec.idle_timeout)
        image = notebooks_v2.VmImage(project=self.s.workbench_image_project,
                                     family=self.s.workbench_image_family)
        if spec.image:  # "project/family" or a family of the Workbench image project
            project, _, family = spec.image.rpartition("/")
            image = notebooks_v2.VmImage(project=project or self.s.workbench_image_project,
                                         family=family)
        return notebooks_v2.Instance(
            gce_setup=notebooks_v2.GceSetup(
                machine_type=machine, accelerator_configs=accelerators,
                gpu_driver_config=notebooks_v2.GPUDriverConfig(enable_gpu_driver=bool(accelerators)),
                boot_disk=notebooks_v2.BootDisk(
                    disk_size_gb=spec.disk_gb or WORKBENCH_MIN_DISK_GB),
                vm_image=image, metadata=metadata),
            labels=labels_for(spec, BACKEND_WORKBENCH))

    # -- read --------------------------------------------------------------------------
    def get_raw(self, name: str, zone: str) -> notebooks_v2.Instance | None:
        try:
            return faults.call(self.c.notebooks.get_instance, name=self._path(name, zone),
                               action=f"get {name}")
        except NotFound:
            return None

    def get(self, name: str, zone: str) -> Instance | None:
        raw = self.get_raw(name, zone)
        return workbench_instance(as_json(raw)) if raw is not None else None

    def notebook_url(self, name: str, zone: str) -> str:
        raw = self.get_raw(name, zone)
        url = workbench_url(as_json(raw)) if raw is not None else None
        if not url:
            raise NbctlError(f"{name} has no notebook address yet (is it RUNNING?)")
        return url

    # -- change ------------------------------------------------------------------------
    def stop(self, name: str, zone: str) -> None:
        raw = self.get_raw(name, zone)
        if raw is None:
            raise NotFound(f"{name} does not exist in {zone}")
        if raw.state.name in _STOPPED:
            return
        faults.call(self.c.notebooks.stop_instance, request=notebooks_v2.StopInstanceRequest(
            name=raw.name), action=f"stop {name}")

    def start(self, name: str, zone: str) -> None:
        raw = self.get_raw(name, zone)
        if raw is None:
            raise NotFound(f"{name} does not exist in {zone}")
        if raw.state.name in _RUNNING:
            return
        faults.call(self.c.notebooks.start_instance, request=notebooks_v2.StartInstanceRequest(
            name=raw.name), action=f"start {name}")

    def delete(self, name: str, zone: str) -> None:
        raw = self.get_raw(name, zone)
        if raw is None or raw.state.name == "DELETED":
            return
        try:
            faults.call(self.c.notebooks.delete_instance, name=raw.name, action=f"delete {name}")
        except NotFound:
            return

    def set_idle_shutdown(self, name: str, zone: str, timeout: int | None) -> str | None:
        """Workbench stops an idle instance itself, after the `idle-timeout-seconds` metadata."""
        raw = self.get_raw(name, zone)
        if raw is None:
            raise NotFound(f"{name} does not exist in {zone}")
        metadata = dict(raw.gce_setup.metadata)
        metadata.pop(IDLE_KEY, None)
        if timeout:
            metadata[IDLE_KEY] = str(timeout)
        action = f"set idle timeout of {name}"
        lro = faults.call(self.c.notebooks.update_instance, request=notebooks_v2.UpdateInstanceRequest(
            instance=notebooks_v2.Instance(name=raw.name, gce_setup=notebooks_v2.GceSetup(metadata=metadata)),
            update_mask={"paths": ["gce_setup.metadata"]}), action=action)
        self.wait(lro.operation.name, action=action)
        return None
