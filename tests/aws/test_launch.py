"""One logical EC2 launch is one request.

EC2 remembers a RunInstances ClientToken for a while (at least until some time after the
instance is terminated): the same token with the same parameters answers with the first
launch; with other parameters it answers IdempotentParameterMismatch. So a retried launch
must be the same request byte for byte (user data with the instance's public SSH key
included), and a launch after `nbctl down` must carry a new ClientToken.
"""
from __future__ import annotations

import pytest
from nbctl_cloud.errors import UserError
from nbctl_cloud.model import State

from tests.aws.conftest import CONFIG
from tests.aws.specs import decoded, spot_spec, wait_state


def run_params(emu) -> list[dict]:
    return [c.params for c in emu.calls("RunInstances")]


def live_instances(emu) -> list:
    return [i for r in emu.ec2_backend().reservations.values() for i in r.instances
            if i.state not in ("shutting-down", "terminated")]


def public_key_of(params: dict) -> str:
    script = decoded(params["UserData"])
    return script[script.index("ssh-ed25519 "):].split("'", 1)[0]


def test_emulated_ec2_refuses_a_client_token_reused_with_other_parameters(emu):
    import boto3
    from botocore.exceptions import ClientError

    ec2 = boto3.client("ec2", region_name="us-east-1")
    ami = emu.seed_dlami()
    same = dict(ImageId=ami, InstanceType="g4dn.xlarge", MinCount=1, MaxCount=1,
                ClientToken="launch-1")
    ec2.run_instances(UserData="#!/bin/bash\necho one", **same)
    with pytest.raises(ClientError) as refused:
        ec2.run_instances(UserData="#!/bin/bash\necho two", **same)
    assert refused.value.response["Error"]["Code"] == "IdempotentParameterMismatch"
    assert len(live_instances(emu)) == 1


def test_emulated_ec2_answers_a_repeated_request_with_the_first_launch(emu):
    import boto3

    ec2 = boto3.client("ec2", region_name="us-east-1")
    same = dict(ImageId=emu.seed_dlami(), InstanceType="g4dn.xlarge", MinCount=1, MaxCount=1,
                ClientToken="launch-1", UserData="#!/bin/bash\necho one")
    first = ec2.run_instances(**same)["Instances"][0]["InstanceId"]
    assert ec2.run_instances(**same)["Instances"][0]["InstanceId"] == first


def test_a_launch_retried_by_another_process_is_the_same_request(aws, emu):
    from nbctl_cloud.providers.aws import AwsProvider

    first = aws.create(spot_spec().with_zone("us-east-1a"))
    fresh = AwsProvider(dict(CONFIG), owner="tester")  # a re-run after a kill, say
    again = fresh.ec2.create(spot_spec(), "us-east-1a", fresh.launches.current("sp"))
    one, two = run_params(emu)
    assert one == two
    assert again.native_id == first.native_id and len(live_instances(emu)) == 1


def test_a_launch_after_delete_is_a_new_request(aws, emu):
    first = aws.create(spot_spec().with_zone("us-east-1a"))
    aws.delete("sp")
    wait_state(aws, "sp", State.DELETED)
    second = aws.create(spot_spec().with_zone("us-east-1a"))
    one, two = run_params(emu)
    assert one["ClientToken"] != two["ClientToken"]
    assert second.native_id != first.native_id
    assert [i.id for i in live_instances(emu)] == [second.native_id]


def test_a_launch_id_naming_a_deleted_launch_launches_anew(aws, emu, nbctl_home):
    hints = nbctl_home / "data" / "aws-locations.json"
    aws.create(spot_spec().with_zone("us-east-1a"))
    remembered = hints.read_text()
    aws.delete("sp")
    wait_state(aws, "sp", State.DELETED)
    hints.write_text(remembered)  # as if deleted from another computer
    inst = aws.create(spot_spec().with_zone("us-east-1a"))
    assert inst.state is State.PROVISIONING
    assert [i.id for i in live_instances(emu)] == [inst.native_id]


def test_a_retry_whose_user_data_changed_is_refused_as_ec2_refuses_it(aws, emu, nbctl_home):
    aws.create(spot_spec().with_zone("us-east-1a"))
    for key in (nbctl_home / "data" / "ssh").glob("aws-sp*"):
        key.unlink()  # another key pair: other user data
    with pytest.raises(UserError, match="IdempotentParameterMismatch"):
        aws.ec2.create(spot_spec(), "us-east-1a", aws.launches.current("sp"))
    assert len(live_instances(emu)) == 1


def test_the_user_data_carries_the_public_key_and_the_private_key_stays_private(aws, emu,
                                                                                nbctl_home):
    aws.create(spot_spec().with_zone("us-east-1a"))
    private = nbctl_home / "data" / "ssh" / "aws-sp"
    assert public_key_of(run_params(emu)[0]) == private.with_suffix(".pub").read_text().strip()
    assert private.stat().st_mode & 0o077 == 0
    assert "PRIVATE KEY" not in decoded(run_params(emu)[0]["UserData"])
