"""The example provider passes nbctl's provider conformance kit, against its JSON-file cloud."""
from __future__ import annotations

import pytest
from nbctl_cloud.errors import CapacityError
from nbctl_cloud.model import InstanceSpec
from nbctl_cloud.testing.conformance import ProviderConformance
from nbctl_example_provider import ExampleProvider


class TestExampleConformance(ProviderConformance):
    @pytest.fixture
    def provider(self, tmp_path):
        return ExampleProvider({"path": str(tmp_path / "example-cloud.json")}, owner="tester")

    @pytest.fixture
    def make_spec(self, provider):
        return lambda name: InstanceSpec(name=name, provider="example", owner=provider.owner)

    @pytest.fixture
    def refuse_create(self, provider):
        def refuse(spec):
            provider.cloud.refuse(spec.name, "NO_CAPACITY")
            return CapacityError
        return refuse


class TestExampleGpuConformance(TestExampleConformance):
    """The same contract for a machine with a GPU from the price list."""

    @pytest.fixture
    def make_spec(self, provider):
        return lambda name: InstanceSpec(name=name, provider="example", gpu="t4", gpu_count=1,
                                         owner=provider.owner)
