"""The colab provider passes the provider conformance kit against the Colab Enterprise fake."""
from __future__ import annotations

import pytest
from nbctl_cloud.errors import CapacityError
from nbctl_cloud.model import InstanceSpec
from nbctl_cloud.testing.conformance import ProviderConformance

from tests.colab import conftest as colab_fixtures

emu = colab_fixtures.emu
colab = colab_fixtures.colab


class TestColabConformance(ProviderConformance):
    @pytest.fixture
    def provider(self, colab):
        return colab

    @pytest.fixture
    def make_spec(self, provider):
        return lambda name: InstanceSpec(name=name, provider="colab", gpu="t4", gpu_count=1,
                                         owner=provider.owner)

    @pytest.fixture
    def refuse_create(self, emu):
        def refuse(spec):
            emu.inject("AssignNotebookRuntime", "stockout", count=100)
            return CapacityError
        return refuse
