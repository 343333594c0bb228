"""Spot notebooks as Compute Engine VMs (compute_v1 over REST).

Every call goes through faults.call (classification + the one retry policy). Operations are
waited on through our own ZoneOperationsClient.wait against the configured endpoint, never
through ExtendedOperation.result(), which polls the public endpoint.
"""
from __future__ import annotations

import time
import uuid
from datetime import datetime

from nbctl_cloud.catalog import load_catalog
from nbctl_cloud.errors import NbctlError, NotFound
from nbctl_cloud.model import LABEL_NAME, Instance, InstanceSpec, Preemption, State
from nbctl_cloud.tunnel import SshRoute

from . import faults, startup
from .clients import Clients
from .common import BACKEND_GCE, filter_expr, gce_accelerator, labels_for, request_id
from .readers import (
    PREEMPTED_OP,
    as_json,
    maybe_preempted,
    parse_time,
    preemption_times,
    vm_instance,
)
from .sdk import compute_v1
from .settings import Settings

SSH_KEYS = "ssh-keys"  # "USER:KEY" lines; the guest agent makes the user, with sudo
IDLE_KEY = "idle-timeout-seconds"
CPU_MACHINE_TYPE = "n1-standard-4"
_STOPPED = {"TERMINATED", "STOPPING", "SUSPENDED", "SUSPENDING"}
_RUNNING = {"RUNNING", "STAGING", "PROVISIONING", "REPAIRING"}


def _done(op: compute_v1.Operation) -> bool:
    return op.status == compute_v1.Operation.Status.DONE


class Gce:
    def __init__(self, clients: Clients, settings: Settings, owner: str):
        self.c = clients
        self.s = settings
        self.owner = owner

    @property
    def project(self) -> str:
        return self.s.require_project()

    # -- operations --------------------------------------------------------------------
    def wait(self, op: compute_v1.Operation, *, zone: str | None = None,
             region: str | None = None, action: str = "") -> compute_v1.Operation:
        """Wait until the operation is DONE; raise its error through the table."""
        deadline = time.monotonic() + self.s.operation_timeout
        while not _done(op):
            if time.monotonic() > deadline:
                raise NbctlError(f"{action}: GCP operation {op.name} still {op.status.name} after "
                                 f"{int(self.s.operation_timeout)}s; check `nbctl status --refresh`")
            if zone:
                op = faults.call(self.c.zone_operations.wait, project=self.project, zone=zone,
                                 operation=op.name, action=action)
            else:
                op = faults.call(self.c.region_operations.wait, project=self.project,
                                 region=region, operation=op.name, action=action)
        if op.error and op.error.errors:
            raise faults.to_error(faults.fault_from_gce_operation(op), action=action)
        return op

    # -- create ------------------------------------------------------------------------
    def create(self, spec: InstanceSpec, zone: str) -> Instance:
        """Insert the spot VM and wait for the insert operation (a stockout shows there)."""
        action = f"create {spec.name} in {zone}"
        body = self._resource(spec, zone)
        try:
            self._insert(body, zone, request_id(spec, zone), action)
            found = self.get(spec.name, zone)
            if found is None:
                # GCE answered with the operation that first used this requestId, for a VM of
                # this name since deleted (a re-creation after a preemption): ask anew.
                self._insert(body, zone, str(uuid.uuid4()), action)
                found = self.get(spec.name, zone)
        except NbctlError as e:
            if e.code != "alreadyExists":
                raise
            found = self.get(spec.name, zone)
            if found is None:
                raise
        return found or Instance(
            name=spec.name, provider="gcp", state=State.PENDING, zone=zone, backend=BACKEND_GCE,
            preemptible=True, gpu=spec.gpu, gpu_count=spec.gpu_count)

    def _insert(self, body: compute_v1.Instance, zone: str, rid: str, action: str) -> None:
        op = faults.call(self.c.instances.insert_unary, request=compute_v1.InsertInstanceRequest(
            project=self.project, zone=zone, instance_resource=body, request_id=rid), action=action)
        self.wait(op, zone=zone, action=action)

    def _resource(self, spec: InstanceSpec, zone: str) -> compute_v1.Instance:
        accelerators = []
        machine = CPU_MACHINE_TYPE
        if spec.gpu_count:
            offer = load_catalog().cheapest("gcp", spec.gpu, spec.gpu_count, spot=True, backend="gce")
            machine = offer.instance_type
            # Accelerator-optimized types (a2, g2, a3) come with their GPUs attached.
            if machine.startswith("n1-") and offer.accelerator:
                accelerators.append(compute_v1.AcceleratorConfig(
                    accelerator_count=spec.gpu_count,
                    accelerator_type=f"projects/{self.project}/zones/{zone}/acceleratorTypes/"
                                     f"{gce_accelerator(offer.accelerator)}"))
        items = [
            compute_v1.Items(key="startup-script", value=startup.startup_script(
                idle_timeout=spec.idle_timeout, metadata_url=self.s.metadata_url,
                jupyter_port=self.s.jupyter_port)),
            compute_v1.Items(key=SSH_KEYS, value=startup.ssh_keys_line(spec.name)),
            compute_v1.Items(key="install-nvidia-driver", value="True"),
        ]
        if spec.idle_timeout:
            items.append(compute_v1.Items(key=IDLE_KEY, value=str(spec.idle_timeout)))
        return compute_v1.Instance(
            name=spec.name,
            machine_type=f"zones/{zone}/machineTypes/{machine}",
            labels=labels_for(spec, BACKEND_GCE),
            guest_accelerators=accelerators,
            scheduling=compute_v1.Scheduling(
                provisioning_model="SPOT", instance_termination_action="STOP",
                on_host_maintenance="TERMINATE", automatic_restart=False),
            disks=[compute_v1.AttachedDisk(
                boot=True, auto_delete=True,
                initialize_params=compute_v1.AttachedDiskInitializeParams(
                    source_image=self._image(spec), disk_size_gb=spec.disk_gb or self.s.disk_gb,
                    disk_type=f"zones/{zone}/diskTypes/pd-balanced"))],
            network_interfaces=[compute_v1.NetworkInterface(
                network=self.s.network,
                access_configs=[compute_v1.AccessConfig(name="External NAT", type_="ONE_TO_ONE_NAT")])],
            service_accounts=[compute_v1.ServiceAccount(
                email="default", scopes=["https://www.googleapis.com/auth/cloud-platform"])],
            metadata=compute_v1.Metadata(items=items),
        )

    def _image(self, spec: InstanceSpec) -> str:
        """--image as given, else the newest image of the configured Deep Learning VM family."""
        if spec.image:
            return spec.image
        img = faults.call(self.c.images.get_from_family, project=self.s.image_project,
                          family=self.s.image_family,
                          action=f"resolve image family {self.s.image_family}")
        return img.self_link

    # -- read --------------------------------------------------------------------------
    def get_vm(self, name: str, zone: str) -> compute_v1.Instance | None:
        try:
            return faults.call(self.c.instances.get, project=self.project, zone=zone,
                               instance=name, action=f"get {name}")
        except NotFound:
            return None

    def get(self, name: str, zone: str) -> Instance | None:
        """The VM; a spot VM that GCE deleted when it preempted it (termination action DELETE)
        reads DELETED, with the preemption named; None if there is nothing."""
        vm = self.get_vm(name, zone)
        if vm is None:
            return self._deleted_by_preemption(name, zone)
        raw = as_json(vm)
        preempted = self._preemption_times(zone, vm.id) if maybe_preempted(raw) else {}
        return vm_instance(raw, zone, preempted)

    def find(self, name: str) -> str | None:
        """The zone of the VM with this name, in one aggregated call over every zone."""
        for zone, vm in self._aggregated(f'(name = "{name}")'):
            if vm.name == name:
                return zone
        return None

    def _aggregated(self, filter_: str):
        """Every page of the aggregated list (at most 500 VMs a page), each request under the
        retry policy; scopes with nothing on a page carry only a warning."""
        token = ""
        while True:
            page = faults.call(self._aggregated_page, filter_, token, action="list VMs")
            for scope, scoped in page.items.items():
                for vm in scoped.instances:
                    yield scope.rsplit("/", 1)[-1], vm
            token = page.next_page_token
            if not token:
                return

    def _aggregated_page(self, filter_: str, token: str) -> compute_v1.InstanceAggregatedList:
        pager = self.c.instances.aggregated_list(request=compute_v1.AggregatedListInstancesRequest(
            project=self.project, filter=filter_ or None, page_token=token or None))
        return next(iter(pager.pages))

    def _deleted_by_preemption(self, name: str, zone: str) -> Instance | None:
        """The zone's operations on a VM of this name: if the last one is a preemption, GCE
        deleted the VM with it."""
        filter_ = f'(targetLink : "/instances/{name}")'  # `:` is "has" (a substring)
        pager = faults.call(self.c.zone_operations.list, request=compute_v1.ListZoneOperationsRequest(
            project=self.project, zone=zone, filter=filter_), action=f"look for {name} in {zone}")
        ops = [(t, op) for op in pager if op.target_link.endswith(f"/instances/{name}")
               and (t := parse_time(op.insert_time)) is not None]
        if not ops:
            return None
        at, last = sorted(ops, key=lambda pair: pair[0])[-1]  # ties: the one listed last
        if last.operation_type != PREEMPTED_OP:
            return None
        return Instance(name=name, provider="gcp", state=State.DELETED, zone=zone,
                        backend=BACKEND_GCE, preemptible=True,
                        detail=f"preempted by Compute Engine at {at.isoformat()} and deleted "
                               "with it (its termination action is DELETE)")

    def _preempted_ops(self, zone: str, target_id: int | None = None):
        filter_ = f'(operationType = "{PREEMPTED_OP}")'
        if target_id is not None:
            filter_ += f' AND (targetId = "{target_id}")'
        pager = faults.call(self.c.zone_operations.list, request=compute_v1.ListZoneOperationsRequest(
            project=self.project, zone=zone, filter=filter_), action=f"list preemptions in {zone}")
        return list(pager)

    def _preemption_times(self, zone: str, target_id: int | None = None) -> dict[str, datetime]:
        """VM id -> when the cloud last preempted it, in this zone."""
        return preemption_times([as_json(op) for op in self._preempted_ops(zone, target_id)])

    def notebook_url(self, name: str, zone: str) -> SshRoute:
        """The SSH route to the VM's Jupyter (on its loopback), with this instance's key."""
        vm = self.get_vm(name, zone)
        ip = next((ac.nat_i_p for nic in vm.network_interfaces for ac in nic.access_configs
                   if ac.nat_i_p), None) if vm else None
        if not ip or vm.status != "RUNNING":
            raise NbctlError(f"{name} has no external address yet (is it RUNNING?)")
        return startup.route(name, vm.id, ip, self.s)

    def preemptions(self, since: datetime) -> list[Preemption]:
        """From zone operations `compute.instances.preempted`: one call per zone in use."""
        ours = {}
        for zone, vm in self._aggregated(filter_expr({"nbctl-owner": self.owner}, BACKEND_GCE)):
            if LABEL_NAME in vm.labels:
                ours[(zone, vm.id)] = vm
        out = []
        for zone in sorted({z for z, _ in ours}):
            for op in self._preempted_ops(zone):
                vm = ours.get((zone, op.target_id))
                at = parse_time(op.insert_time)
                if vm is None or at is None or at < since:
                    continue
                out.append(Preemption(name=vm.labels.get(LABEL_NAME, vm.name), native_id=str(vm.id),
                                      zone=zone, at=at, source=PREEMPTED_OP))
        return sorted(out, key=lambda p: p.at)

    # -- change ------------------------------------------------------------------------
    def stop(self, name: str, zone: str) -> None:
        vm = self.get_vm(name, zone)
        if vm is None:
            raise NotFound(f"{name} does not exist in {zone}")
        if vm.status in _STOPPED:
            return
        faults.call(self.c.instances.stop_unary, project=self.project, zone=zone, instance=name,
                    action=f"stop {name}")

    def start(self, name: str, zone: str) -> None:
        """Waits for the start operation (not for RUNNING): a spot VM may not get its capacity
        back, and that stockout is raised as CapacityError(scope=ZONE), as on create."""
        vm = self.get_vm(name, zone)
        if vm is None:
            raise NotFound(f"{name} does not exist in {zone}")
        if vm.status in _RUNNING:
            return
        action = f"start {name} in {zone}"
        op = faults.call(self.c.instances.start_unary, project=self.project, zone=zone,
                         instance=name, action=action)
        self.wait(op, zone=zone, action=action)

    def delete(self, name: str, zone: str) -> None:
        from .policies import detach_all

        vm = self.get_vm(name, zone)
        if vm is None:
            return
        detach_all(self, vm, zone)
        try:
            faults.call(self.c.instances.delete_unary, project=self.project, zone=zone,
                        instance=name, action=f"delete {name}")
        except NotFound:
            return

    def set_idle_shutdown(self, name: str, zone: str, timeout: int | None) -> str | None:
        """Rewrite the idle timeout and the startup script; the agent reads them at boot.
        Returns a note for the user when that boot is still to come."""
        vm = self.get_vm(name, zone)
        if vm is None:
            raise NotFound(f"{name} does not exist in {zone}")
        items = {i.key: i.value for i in vm.metadata.items}
        items.pop(IDLE_KEY, None)
        items.setdefault(SSH_KEYS, startup.ssh_keys_line(name))
        items.pop("nbctl-jupyter-token", None)  # where older versions left the token
        if timeout:
            items[IDLE_KEY] = str(timeout)
        items["startup-script"] = startup.startup_script(
            idle_timeout=timeout, metadata_url=self.s.metadata_url,
            jupyter_port=self.s.jupyter_port)
        self.set_metadata(vm, zone, items, action=f"set idle timeout of {name}")
        if vm.status in ("PROVISIONING", "STAGING", "RUNNING"):
            return (f"{name}: the new idle timeout takes effect at the VM's next start (its "
                    f"agent reads it at boot)")
        return None

    def set_metadata(self, vm: compute_v1.Instance, zone: str, items: dict[str, str], *,
                     action: str) -> None:
        """Replace the VM's metadata items (guarded by the fingerprint read with `vm`), and
        wait for the operation."""
        meta = compute_v1.Metadata(fingerprint=vm.metadata.fingerprint,
                                   items=[compute_v1.Items(key=k, value=v) for k, v in items.items()])
        op = faults.call(self.c.instances.set_metadata_unary, project=self.project, zone=zone,
                         instance=vm.name, metadata_resource=meta, action=action)
        self.wait(op, zone=zone, action=action)
