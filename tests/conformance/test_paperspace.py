"""The Paperspace provider passes the provider conformance kit against the fake API."""
from __future__ import annotations

import pytest
from nbctl_cloud.errors import CapacityError
from nbctl_cloud.model import InstanceSpec
from nbctl_cloud.testing.conformance import ProviderConformance

from tests.paperspace import conftest as paperspace_fixtures

emu = paperspace_fixtures.emu
paperspace = paperspace_fixtures.paperspace


class TestPaperspaceConformance(ProviderConformance):
    @pytest.fixture
    def provider(self, paperspace):
        return paperspace

    @pytest.fixture
    def make_spec(self, provider):
        return lambda name: InstanceSpec(name=name, provider="paperspace", gpu="a4000",
                                         gpu_count=1, owner=provider.owner)

    @pytest.fixture
    def refuse_create(self, emu):
        def refuse(spec):
            for region in ("ny2", "ca1", "ams1"):
                emu.run_out_of_capacity("A4000", region)
            return CapacityError
        return refuse
