"""SDK clients, built once per provider object against the configured endpoints.

This module imports google-cloud-compute (the parts nbctl uses: sdk.py), and
google-cloud-notebooks when its client is first made; only the backends import it, inside the
provider's verbs. Notebooks always speaks REST (it defaults to gRPC).
"""
from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from google.api_core.client_options import ClientOptions

from .common import credentials
from .sdk import compute_v1
from .settings import Settings

if TYPE_CHECKING:  # pragma: no cover
    from google.cloud import notebooks_v2


def _options(endpoint: str | None) -> ClientOptions | None:
    # The REST transports keep the scheme of an endpoint that names one ("http://127.0.0.1:N"
    # for an emulator) and add "https://" to a bare host, so url_scheme needs no setting.
    return ClientOptions(api_endpoint=endpoint) if endpoint else None


class Clients:
    """Lazily built clients sharing one credentials object."""

    def __init__(self, settings: Settings):
        self.settings = settings

    @cached_property
    def creds(self):
        return credentials(self.settings.anonymous)

    def _compute(self, cls):
        return cls(credentials=self.creds, transport="rest",
                   client_options=_options(self.settings.compute_endpoint))

    @cached_property
    def instances(self) -> compute_v1.InstancesClient:
        return self._compute(compute_v1.InstancesClient)

    @cached_property
    def zone_operations(self) -> compute_v1.ZoneOperationsClient:
        return self._compute(compute_v1.ZoneOperationsClient)

    @cached_property
    def region_operations(self) -> compute_v1.RegionOperationsClient:
        return self._compute(compute_v1.RegionOperationsClient)

    @cached_property
    def images(self) -> compute_v1.ImagesClient:
        return self._compute(compute_v1.ImagesClient)

    @cached_property
    def resource_policies(self) -> compute_v1.ResourcePoliciesClient:
        return self._compute(compute_v1.ResourcePoliciesClient)

    @cached_property
    def notebooks(self) -> "notebooks_v2.NotebookServiceClient":
        from google.cloud import notebooks_v2
        return notebooks_v2.NotebookServiceClient(
            credentials=self.creds, transport="rest",
            client_options=_options(self.settings.notebooks_endpoint))
