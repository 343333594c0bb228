"""boto3 clients, one per (service, region), made on first use. The only module that builds
them; boto3 is imported here, lazily, when a verb first needs the cloud."""
from __future__ import annotations

import threading

_LOADER = None  # botocore's loader of service models, shared: each model is parsed once
_LOADER_LOCK = threading.Lock()


def _shared_loader():
    global _LOADER
    with _LOADER_LOCK:
        if _LOADER is None:
            from botocore.loaders import create_loader
            _LOADER = create_loader()
        return _LOADER


class Clients:
    def __init__(self):
        self._session = None
        self._clients: dict[tuple[str, str], object] = {}
        self._lock = threading.Lock()

    def get(self, service: str, region: str):
        key = (service, region)
        with self._lock:
            if key not in self._clients:
                import boto3
                from botocore.config import Config

                if self._session is None:
                    import botocore.session

                    # A fresh session per Clients (it reads the environment then); only the
                    # read-only models (megabytes of JSON for EC2) are shared.
                    core = botocore.session.get_session()
                    core.register_component("data_loader", _shared_loader())
                    self._session = boto3.session.Session(botocore_session=core)
                # botocore's retries are off (one attempt): nbctl_cloud.retry is the one
                # policy, so throttling is not retried twice over.
                config = Config(retries={"total_max_attempts": 1, "mode": "standard"},
                                connect_timeout=10, read_timeout=60,
                                user_agent_extra="nbctl")
                self._clients[key] = self._session.client(service, region_name=region,
                                                          config=config)
            return self._clients[key]
