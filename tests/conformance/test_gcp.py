"""The GCP provider passes the provider conformance kit against the GCP emulator, once per
backend: Workbench instances (on-demand) and Compute Engine SPOT VMs (--preemptible)."""
from __future__ import annotations

import pytest
from nbctl_cloud.errors import CapacityError
from nbctl_cloud.model import InstanceSpec
from nbctl_cloud.testing.conformance import ProviderConformance

from tests.gcp import conftest as gcp_fixtures

emu = gcp_fixtures.emu
gcp = gcp_fixtures.gcp


class GcpConformance(ProviderConformance):
    zone = "us-central1-a"
    preemptible = False
    create_method = ""  # the API method that creates this backend's machines

    @pytest.fixture
    def provider(self, gcp):
        return gcp

    @pytest.fixture
    def make_spec(self, provider):
        return lambda name: InstanceSpec(name=name, provider="gcp", gpu="t4", gpu_count=1,
                                         preemptible=self.preemptible, zones=(self.zone,),
                                         owner=provider.owner)

    @pytest.fixture
    def refuse_create(self, emu):
        def refuse(spec):
            emu.inject(self.create_method, "stockout", count=100)
            return CapacityError
        return refuse


class TestGcpWorkbenchConformance(GcpConformance):
    zone = "us-central1-b"
    create_method = "notebooks.projects.locations.instances.create"


class TestGcpSpotVmConformance(GcpConformance):
    preemptible = True
    create_method = "compute.instances.insert"
