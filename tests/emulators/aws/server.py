"""AwsEmulator: moto's server app (as ThreadedMotoServer runs it) on a free loopback port,
behind the fault layer, with the extensions of moto_ext installed.

Point boto3 at it with `env()` (AWS_ENDPOINT_URL and dummy credentials); boto3 sends every
service to that one endpoint and moto routes by the signature's service name.

With `run_instances=True` EC2 instances boot for real (see instances_boot.py): their user
data runs as local processes, each instance with its own instance metadata service.
"""
from __future__ import annotations

import threading
import urllib.request
from datetime import datetime, timezone

from . import fast_serialize, moto_ext, spot
from .faults import Fault, FaultLayer, Hold

ACCOUNT = "123456789012"
REGION = "us-east-1"
DLAMI_NAME = "Deep Learning OSS Nvidia Driver AMI GPU PyTorch 2.5.1 (Amazon Linux 2023) 20250101"
AMAZON_OWNER_ID = "898082745236"  # the account that publishes the Deep Learning AMIs


class AwsEmulator:
    def __init__(self, delays: moto_ext.Delays | None = None, *, run_instances: bool = False,
                 base_dir: str | None = None):
        moto_ext.install()
        fast_serialize.install()
        self._replaced = dict(moto_ext.DELAYS.__dict__)  # put back by stop()
        if delays is not None:
            moto_ext.DELAYS.__dict__.update(delays.__dict__)
        self._server = None
        self._thread: threading.Thread | None = None
        self.layer: FaultLayer | None = None
        self._run_instances, self._base_dir = run_instances, base_dir
        self.instances = None  # an instances_boot.Ec2Runtime while started with run_instances

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> "AwsEmulator":
        import logging

        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
        self.layer = FaultLayer(DomainDispatcherApplication(create_backend_app))
        self._server = make_server("127.0.0.1", 0, self.layer, threaded=True,
                                   request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        # moto's backends are the process's: an emulator starts on an empty account, whatever
        # an earlier one in this process left there.
        self.reset()
        if self._run_instances:
            from .instances_boot import Ec2Runtime
            # The instances reach S3 and EC2 here, with what an instance profile would give
            # them (botocore reads those from IMDS on EC2; here, from the environment).
            network = {"AWS_ENDPOINT_URL": self.url, "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}
            self.instances = Ec2Runtime(ACCOUNT, self._base_dir, network)
        return self

    def stop(self) -> None:
        spot.cancel_timers()
        if self.instances is not None:
            self.instances.close()
            self.instances = None
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None
        moto_ext.DELAYS.__dict__.update(self._replaced)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def env(self) -> dict[str, str]:
        return {"AWS_ENDPOINT_URL": self.url, "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
                "AWS_DEFAULT_REGION": REGION, "AWS_EC2_METADATA_DISABLED": "true"}

    def reset(self) -> None:
        """Forget every resource, fault and counted call."""
        req = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST", data=b"")
        spot.cancel_timers()
        urllib.request.urlopen(req, timeout=60).read()  # a loaded CI box can be slow
        if self.instances is not None:
            self.instances.sync()  # the instances are gone: so are their processes and disks
        self.layer.reset()
        moto_ext.NO_NOTEBOOK_CAPACITY.clear()
        spot.CONTROLS.stop_window = 0
        self.layer.strict = True

    # -- faults and counts ---------------------------------------------------------------
    def inject(self, service: str, action: str, code: str, message: str, *, status: int = 400,
               times: int | None = 1, when=None) -> Fault:
        return self.layer.inject(Fault(service, action, code, message, status, times, when))

    def hold(self, service: str, action: str, seconds: float, *, times: int | None = 1) -> Hold:
        """Answer `action` only `seconds` after carrying it out."""
        return self.layer.hold(Hold(service, action, seconds, times))

    def count(self, action: str, service: str | None = None) -> int:
        return self.layer.count(action, service)

    def calls(self, action: str | None = None) -> list:
        return [c for c in self.layer.calls if action is None or c.action == action]

    # -- the clouds' own doings ----------------------------------------------------------
    @staticmethod
    def ec2_backend(region: str = REGION):
        from moto.ec2.models import ec2_backends
        return ec2_backends[ACCOUNT][region]

    @staticmethod
    def sagemaker_backend(region: str = REGION):
        from moto.sagemaker.models import sagemaker_backends
        return sagemaker_backends[ACCOUNT][region]

    def seed_dlami(self, region: str = REGION, *, name: str = DLAMI_NAME,
                   created: str = "2025-01-01T00:00:00.000Z", ami_id: str | None = None) -> str:
        """Publish a Deep Learning AMI as Amazon does (owner alias `amazon`)."""
        import secrets

        from moto.ec2.models.amis import Ami

        backend = self.ec2_backend(region)
        ami_id = ami_id or f"ami-{secrets.token_hex(8)}"
        backend.amis[ami_id] = Ami(
            backend, ami_id, name=name, owner_id=AMAZON_OWNER_ID, owner_alias="amazon",
            public=True, virtualization_type="hvm", architecture="x86_64",
            root_device_type="ebs", root_device_name="/dev/xvda",
            creation_date=datetime.fromisoformat(created.replace("Z", "+00:00")),
            region_name=region)
        return ami_id

    def interrupt_spot(self, instance_id: str, region: str = REGION, *,
                       notice: float = 0.0) -> None:
        """EC2 reclaims the spot instance: its interruption notice (IMDS spot/instance-action)
        now, the interruption `notice` seconds later (EC2: 120; 0: at once). See spot.warn,
        spot.interrupt."""
        spot.warn(self.ec2_backend(region), instance_id, notice)

    def recommend_rebalance(self, instance_id: str, region: str = REGION) -> None:
        """EC2 signals that the spot instance is at elevated risk of interruption (IMDS
        events/recommendations/rebalance)."""
        spot.recommend_rebalance(self.ec2_backend(region), instance_id)

    def machine(self, instance_id: str):
        """The booted instance's instances_boot.Machine (root, proc, imds, boots, ran), once it
        has reached running; needs run_instances=True."""
        if self.instances is None:
            raise RuntimeError("start the emulator with run_instances=True")
        self.instances.sync()
        return self.instances.machines.get(instance_id)

    def spot_capacity_returns(self, instance_id: str, region: str = REGION) -> None:
        """EC2 itself restarts the interrupted, stopped spot instance."""
        spot.capacity_returns(self.ec2_backend(region), instance_id)

    def spot_stop_window(self, refusals: int) -> None:
        """How many StartInstances a persistent spot request refuses after a user stop."""
        spot.CONTROLS.stop_window = refusals

    def no_notebook_capacity(self, instance_type: str | None = None,
                             region: str | None = None) -> None:
        """SageMaker has no capacity for this type (None: any) in this region (None: any)."""
        moto_ext.NO_NOTEBOOK_CAPACITY.add((instance_type, region))

    def now(self) -> datetime:
        return datetime.now(timezone.utc)
