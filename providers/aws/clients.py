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
                    core.get_component("response_parser_factory").set_parser_defaults(
                        timestamp_parser=_timestamp)
                    self._session = boto3.session.Session(botocore_session=core)
                # botocore's retries are off (one attempt): nbctl_cloud.retry is the one
                # policy, so throttling is not retried twice over.
                config = Config(retries={"total_max_attempts": 1, "mode": "standard"},
                                connect_timeout=10, read_timeout=60,
                                user_agent_extra="nbctl")
                self._clients[key] = self._session.client(service, region_name=region,
                                                          config=config)
            return self._clients[key]


def _timestamp(value):
    """botocore's timestamp parser, with the form AWS writes (ISO 8601 in UTC, such as EC2's
    `2026-12-01T02:18:00.000Z`) read by datetime.fromisoformat: the same datetime (UTC as
    dateutil's tzutc), in a twentieth of the time. dateutil's parse was half the CPU of
    reading a DescribeInstances of 300 instances. Anything else goes to botocore's own."""
    from botocore.utils import parse_timestamp

    if isinstance(value, str) and len(value) >= 20 and value[10] == "T" and value[4] == "-":
        import datetime

        try:
            parsed = datetime.datetime.fromisoformat(value)
        except ValueError:
            return parse_timestamp(value)
        if parsed.utcoffset() == datetime.timedelta(0):
            from dateutil.tz import tzutc
            return parsed.replace(tzinfo=tzutc())
    return parse_timestamp(value)
