"""The provider against moto in-process: the `mock_aws` decorator answers boto3 inside this
process (no server, no endpoint; transitions take no time), for fast checks of single verbs.
The same extensions of moto (tests/emulators/aws/moto_ext) apply."""
from __future__ import annotations

import pytest
from moto import mock_aws
from nbctl_cloud.model import State

from tests.aws.conftest import CONFIG
from tests.aws.specs import nb_spec, on_start_script, spot_spec
from tests.emulators.aws import AwsEmulator, Delays

REGION = "us-east-1"  # the region these in-process checks run in


@pytest.fixture
def cloud(monkeypatch):
    """The AWS of this process, once a test decorated with mock_aws runs."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)  # else boto3 would go to a server
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": REGION, "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    emulator = AwsEmulator()  # not started: its moto extensions and seeding only
    from tests.emulators.aws import moto_ext
    for phase, seconds in Delays(provision=0, stop=0, delete=0).__dict__.items():
        monkeypatch.setattr(moto_ext.DELAYS, phase, seconds)
    return emulator


def provider():
    from nbctl_cloud.providers.aws import AwsProvider
    return AwsProvider(dict(CONFIG), owner="tester")


@mock_aws
def test_in_process_a_stopped_notebook_gets_idle_shutdown_attached(cloud):
    aws = provider()
    aws.create(nb_spec())
    aws.stop("nb")
    aws.set_idle_shutdown("nb", 1800)
    assert "--idle-timeout 1800" in on_start_script(cloud)
    assert aws.get("nb").state is State.STOPPED


@mock_aws
def test_in_process_a_spot_launch_retried_by_another_process_is_one_instance(cloud):
    cloud.seed_dlami()
    first = provider().create(spot_spec().with_zone("us-east-1a"))
    retry = provider()  # shares nbctl's data dir, as a re-run would
    again = retry.ec2.create(spot_spec(), "us-east-1a", retry.launches.current("sp"))
    assert again.native_id == first.native_id
    assert [i.name for i in retry.list({"nbctl-name": "sp"})] == ["sp"]


@mock_aws
def test_in_process_a_spot_launch_after_delete_is_a_new_instance(cloud):
    cloud.seed_dlami()
    aws = provider()
    first = aws.create(spot_spec().with_zone("us-east-1a"))
    aws.delete("sp")
    second = aws.create(spot_spec().with_zone("us-east-1a"))
    assert second.native_id != first.native_id
    assert [i.native_id for i in aws.list({"nbctl-name": "sp"})] == [second.native_id]
