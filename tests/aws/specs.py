"""Specs and waiting shared by the AWS tests."""
from __future__ import annotations

import base64
import gzip
import time

from nbctl_cloud.model import InstanceSpec, State


def nb_spec(name="nb", **kw) -> InstanceSpec:
    """A spec stamped with nbctl's labels, as the core hands it to `create`."""
    return InstanceSpec(name=name, provider="aws", gpu="t4", gpu_count=1, owner="tester",
                        **kw).stamped()


def spot_spec(name="sp", **kw) -> InstanceSpec:
    return nb_spec(name, preemptible=True, **kw)


def wait_state(aws, name, state, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        inst = aws.get(name)
        if (inst.state if inst else State.DELETED) is state:
            return inst
        time.sleep(0.05)
    raise AssertionError(f"{name} never became {state}")


def decoded(user_data) -> str:
    """A RunInstances UserData parameter (base64, as sent) or a moto attribute, as text
    (uncompressed, as cloud-init does, when gzipped)."""
    data = base64.b64decode(str(user_data))
    return (gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data).decode()


def on_start_script(emu, name="nb") -> str:
    backend = emu.sagemaker_backend()
    config = backend.notebook_instances[name].lifecycle_config_name
    content = backend.notebook_instance_lifecycle_configurations[config].on_start[0]["Content"]
    return base64.b64decode(content).decode()


def user_data_of(emu, native_id: str) -> str:
    return decoded(emu.ec2_backend().get_instance_by_id(native_id).user_data)
