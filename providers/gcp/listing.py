"""The fleet listing (`status --refresh`): Compute Engine's aggregated VM list, the zones'
preemption records and Workbench's per-location lists, read as the REST APIs' JSON.

These are the requests the SDK clients send with transport="rest"; reading their answers as
JSON (readers.py) spares the listing the SDKs themselves: importing compute_v1's instances
client and notebooks_v2 and turning hundreds of VMs into protobuf messages took about two
seconds of CPU on a 2-core machine, against a few tenths here. Requests go through google-auth's
AuthorizedSession (Application Default Credentials, refreshed as needed) under the one retry
policy; an error answer is read by the same fault table as the SDK's exceptions.
"""
from __future__ import annotations

from nbctl_cloud.errors import TransientError
from nbctl_cloud.locations import each_place
from nbctl_cloud.model import LABEL_NAME, Instance

from . import faults
from .common import BACKEND_GCE, BACKEND_WORKBENCH, credentials, filter_expr
from .readers import (
    PREEMPTED_OP,
    maybe_preempted,
    preemption_times,
    vm_instance,
    workbench_instance,
)
from .settings import Settings

COMPUTE = "compute.googleapis.com"
NOTEBOOKS = "notebooks.googleapis.com"
TIMEOUT = 60.0


def _base(endpoint: str | None, default_host: str) -> str:
    """The SDK's rule: an endpoint naming a scheme keeps it; a bare host gets https://."""
    endpoint = (endpoint or default_host).rstrip("/")
    return endpoint if "://" in endpoint else f"https://{endpoint}"


class Listing:
    """One session for a provider's whole listing (its connections reused by every request)."""

    def __init__(self, settings: Settings):
        from google.auth.transport.requests import AuthorizedSession
        self.s = settings
        creds = credentials(settings.anonymous)
        # A 401 makes the session refresh the token and ask once more; anonymous ones (an
        # emulator) have none to refresh, so theirs is read like any other answer.
        self.http = AuthorizedSession(creds, refresh_status_codes=()) if settings.anonymous \
            else AuthorizedSession(creds)
        self.compute = _base(settings.compute_endpoint, COMPUTE) + "/compute/v1"
        self.notebooks = _base(settings.notebooks_endpoint, NOTEBOOKS) + "/v2"

    def close(self) -> None:
        self.http.close()

    def _get(self, url: str, params: dict, action: str) -> dict:
        def once() -> dict:
            resp = self.http.get(url, params={k: v for k, v in params.items() if v},
                                 timeout=TIMEOUT)
            if resp.status_code >= 400:
                raise faults.to_error(faults.fault_from_json(resp.status_code, resp.content),
                                      action=action)
            try:
                return resp.json()
            except ValueError:
                raise TransientError(f"{action}: the answer was not JSON") from None
        return faults.call(once, action=action)

    def _pages(self, url: str, params: dict, action: str):
        token = ""
        while True:
            page = self._get(url, {**params, "pageToken": token}, action)
            yield page
            token = page.get("nextPageToken")
            if not token:
                return

    # -- Compute Engine ----------------------------------------------------------------
    def vms(self, labels: dict[str, str] | None) -> list[Instance]:
        """One aggregated list over every zone (its pages followed), filtered by labels on the
        server, then one preemption-record list per zone holding a stopped spot VM, at once."""
        project = self.s.require_project()
        vms = []
        for page in self._pages(f"{self.compute}/projects/{project}/aggregated/instances",
                                {"filter": filter_expr(labels, BACKEND_GCE)}, "list VMs"):
            for scope, scoped in (page.get("items") or {}).items():
                zone = scope.rsplit("/", 1)[-1]
                vms += [(zone, vm) for vm in scoped.get("instances") or ()
                        if LABEL_NAME in (vm.get("labels") or {})]
        zones = sorted({z for z, vm in vms if maybe_preempted(vm)})
        preempted = dict(zip(zones, each_place(self._preemption_times, zones)))
        return [vm_instance(vm, z, preempted.get(z, {})) for z, vm in vms]

    def _preemption_times(self, zone: str):
        project = self.s.require_project()
        ops = [op for page in self._pages(
            f"{self.compute}/projects/{project}/zones/{zone}/operations",
            {"filter": f'(operationType = "{PREEMPTED_OP}")'}, f"list preemptions in {zone}")
            for op in page.get("items") or ()]
        return preemption_times(ops)

    # -- Workbench -----------------------------------------------------------------------
    def workbench(self, labels: dict[str, str] | None, zones: list[str]) -> list[Instance]:
        """One list per location (notebooks v2 has no aggregated list), the locations at once;
        more requests only when an answer spans pages."""
        project = self.s.require_project()

        def one(zone: str) -> list[Instance]:
            return [workbench_instance(raw) for page in self._pages(
                f"{self.notebooks}/projects/{project}/locations/{zone}/instances",
                {"filter": filter_expr(labels, BACKEND_WORKBENCH)}, f"list Workbench in {zone}")
                for raw in page.get("instances") or () if LABEL_NAME in (raw.get("labels") or {})]
        return [i for found in each_place(one, zones) for i in found]
