"""The local provider passes the provider conformance kit, with real Jupyter servers."""
from __future__ import annotations

import pytest
from nbctl_cloud.model import InstanceSpec
from nbctl_cloud.testing.conformance import ProviderConformance

pytestmark = pytest.mark.slow


class TestLocalConformance(ProviderConformance):
    @pytest.fixture
    def provider(self, nbctl_home):
        from nbctl_cloud.providers.local import LocalProvider

        provider = LocalProvider({}, owner="tester")
        yield provider
        provider.close()

    @pytest.fixture
    def make_spec(self, provider):
        return lambda name: InstanceSpec(name=name, provider="local", owner=provider.owner)
