"""EC2's rules for spot instances, through boto3 against the emulator, and how nbctl keeps them:
only EC2 restarts an interrupted spot instance; a persistent request refuses a start for a
while after a user stop; stop behaviour needs a persistent request."""
from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from nbctl_cloud import lifecycle
from nbctl_cloud.errors import NbctlError
from nbctl_cloud.model import State
from nbctl_cloud.store import Store

from tests.aws.specs import spot_spec, wait_state


def _interrupted(aws, emu):
    inst = aws.create(spot_spec().with_zone("us-east-1a"))
    wait_state(aws, "sp", State.RUNNING)
    emu.interrupt_spot(inst.native_id)
    wait_state(aws, "sp", State.PREEMPTED)
    return inst


def _capacity_returns_when_seen_preempted(emu, native_id):
    seen = []

    def progress(name, state, elapsed):
        if state is State.PREEMPTED and not seen:
            seen.append(state)
            emu.spot_capacity_returns(native_id)
    return progress


def test_ec2_refuses_start_of_an_interrupted_spot_instance(aws, emu):
    inst = _interrupted(aws, emu)
    with pytest.raises(ClientError) as info:
        boto3.client("ec2", region_name="us-east-1").start_instances(
            InstanceIds=[inst.native_id])
    assert info.value.response["Error"]["Code"] == "IncorrectSpotRequestState"
    assert "Only Amazon EC2 can restart" in info.value.response["Error"]["Message"]


def test_up_of_an_interrupted_spot_machine_waits_for_ec2_to_restart_it(aws, emu):
    store = Store()
    inst = _interrupted(aws, emu)
    lifecycle.up(aws, spot_spec(), store=store, wait=False)  # the store learns of it
    got, created = lifecycle.up(aws, spot_spec(), store=store, timeout=30,
                                progress=_capacity_returns_when_seen_preempted(emu, inst.native_id))
    assert not created and got.state is State.RUNNING and got.native_id == inst.native_id
    assert emu.count("StartInstances") == 0
    assert any("EC2, which alone restarts it" in n for n in aws.warnings)


def test_start_of_an_interrupted_spot_machine_waits_for_ec2_to_restart_it(aws, emu):
    inst = _interrupted(aws, emu)
    got = lifecycle.start(aws, "sp", store=Store(), timeout=30,
                          progress=_capacity_returns_when_seen_preempted(emu, inst.native_id))
    assert got.state is State.RUNNING
    assert emu.count("StartInstances") == 0


def test_waiting_for_ec2_to_restart_a_spot_machine_times_out_with_what_to_do(aws, emu):
    inst = _interrupted(aws, emu)
    with pytest.raises(NbctlError) as info:
        lifecycle.start(aws, "sp", store=Store(), timeout=0)
    assert "still PREEMPTED" in info.value.message and "nbctl down sp" in info.value.message
    assert "\n" not in info.value.message
    assert emu.count("StartInstances") == 0
    assert aws.get("sp").native_id == inst.native_id  # left as it was


def test_ec2_refuses_start_while_the_spot_request_is_marked_for_stop(aws, emu):
    inst = aws.create(spot_spec().with_zone("us-east-1a"))
    wait_state(aws, "sp", State.RUNNING)
    emu.spot_stop_window(1)
    ec2 = boto3.client("ec2", region_name="us-east-1")
    ec2.stop_instances(InstanceIds=[inst.native_id])
    wait_state(aws, "sp", State.STOPPED)
    with pytest.raises(ClientError) as info:
        ec2.start_instances(InstanceIds=[inst.native_id])
    assert info.value.response["Error"]["Code"] == "IncorrectSpotRequestState"


def test_start_right_after_a_stop_is_retried_until_the_spot_request_is_disabled(aws, emu):
    aws.create(spot_spec().with_zone("us-east-1a"))
    wait_state(aws, "sp", State.RUNNING)
    emu.spot_stop_window(2)
    store = Store()
    lifecycle.stop(aws, "sp", store=store, timeout=30)
    got = lifecycle.start(aws, "sp", store=store, timeout=30)
    assert got.state is State.RUNNING
    assert emu.count("StartInstances") == 3  # two refused, retried by the one policy


def test_ec2_refuses_a_one_time_spot_request_with_stop_behaviour(aws, emu):
    image = emu.seed_dlami()
    with pytest.raises(ClientError) as info:
        boto3.client("ec2", region_name="us-east-1").run_instances(
            ImageId=image, InstanceType="g4dn.xlarge", MinCount=1, MaxCount=1,
            InstanceMarketOptions={"MarketType": "spot", "SpotOptions": {
                "SpotInstanceType": "one-time", "InstanceInterruptionBehavior": "stop"}})
    assert info.value.response["Error"]["Code"] == "InvalidParameterCombination"
    assert emu.ec2_backend().spot_instance_requests == {}
    aws.create(spot_spec().with_zone("us-east-1a"))  # nbctl's request is persistent: accepted
    run = emu.calls("RunInstances")[-1].params
    assert run["InstanceMarketOptions.SpotOptions.SpotInstanceType"] == "persistent"
