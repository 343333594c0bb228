"""The NotebookService client, built once per provider object against the configured endpoint.

This module imports google-cloud-aiplatform's `aiplatform_v1`, only the NotebookService client
and the message types nbctl uses (gcp/gapic.py: the whole package takes seconds to import);
only the runtimes backend imports it, inside the provider's verbs. The client always speaks
REST (the library defaults to gRPC), so an endpoint set for an emulator serves every call, the
long-running operations' polls included.
"""
from __future__ import annotations

from google.api_core.client_options import ClientOptions
from nbctl_cloud.providers.gcp.common import credentials
from nbctl_cloud.providers.gcp.gapic import package

from .settings import Settings

aiplatform_v1 = package("google.cloud.aiplatform_v1", bare=("types",), types=(
    "types.notebook_service", "types.notebook_runtime", "types.machine_resources",
    "types.accelerator_type", "types.notebook_idle_shutdown_config"))


class Clients:
    """One NotebookService client per endpoint, sharing one credentials object. Vertex AI
    answers a region's resources only at `REGION-aiplatform.googleapis.com`, so each region
    has its own client, unless an endpoint is configured (an emulator serves every region)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._creds = None
        self._clients: dict[str, aiplatform_v1.NotebookServiceClient] = {}

    @property
    def creds(self):
        if self._creds is None:
            self._creds = credentials(self.settings.anonymous)
        return self._creds

    def service(self, region: str) -> aiplatform_v1.NotebookServiceClient:
        # The REST transport keeps the scheme of an endpoint that names one
        # ("http://127.0.0.1:N" for an emulator) and adds "https://" to a bare host.
        endpoint = self.settings.endpoint or f"{region}-aiplatform.googleapis.com"
        if endpoint not in self._clients:
            self._clients[endpoint] = aiplatform_v1.NotebookServiceClient(
                credentials=self.creds, transport="rest",
                client_options=ClientOptions(api_endpoint=endpoint))
        return self._clients[endpoint]
