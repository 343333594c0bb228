"""Strict mode: the emulator answers a malformed request as AWS does (400, the service's error
shape), by botocore's own model; botocore checks only names and types before sending, so
these requests go through the real client with what it lets pass."""
from __future__ import annotations

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.aws.conftest import ROLE

UNCHECKED = Config(parameter_validation=False)


def _error(call, *args, **kwargs) -> dict:
    with pytest.raises(ClientError) as info:
        call(*args, **kwargs)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return info.value.response["Error"]


def test_strict_mode_is_on_in_every_aws_test(emu):
    assert emu.layer.strict


def test_ec2_refuses_a_parameter_the_operation_does_not_have(emu):
    ec2 = boto3.client("ec2", region_name="us-east-1")

    def add_unknown(params, **_):
        params["body"]["Colour"] = "blue"
    ec2.meta.events.register("before-call.ec2.DescribeInstances", add_unknown)
    err = _error(ec2.describe_instances)
    assert err["Code"] == "UnknownParameter" and "Colour" in err["Message"]


def test_ec2_refuses_a_value_outside_its_enum(emu):
    ec2 = boto3.client("ec2", region_name="us-east-1")
    err = _error(ec2.run_instances, ImageId=emu.seed_dlami(), InstanceType="g4dn.huge",
                 MinCount=1, MaxCount=1)
    assert err["Code"] == "InvalidParameterValue" and "g4dn.huge" in err["Message"]
    assert emu.ec2_backend().reservations == {}


def test_ec2_refuses_a_value_of_the_wrong_type(emu):
    ec2 = boto3.client("ec2", region_name="us-east-1", config=UNCHECKED)
    err = _error(ec2.describe_instances, MaxResults="many")
    assert err["Code"] == "InvalidParameterValue"


def test_sagemaker_refuses_a_value_outside_its_enum(emu):
    sm = boto3.client("sagemaker", region_name="us-east-1")
    err = _error(sm.create_notebook_instance, NotebookInstanceName="nb",
                 InstanceType="ml.g4dn.xlarge", RoleArn=ROLE, DirectInternetAccess="Sometimes")
    assert err["Code"] == "ValidationException"
    assert err["Message"] == ("1 validation error detected: Value 'Sometimes' at "
                              "'directInternetAccess' failed to satisfy constraint: Member must "
                              "satisfy enum value set: [Enabled, Disabled]")
    assert emu.sagemaker_backend().notebook_instances == {}


def test_sagemaker_refuses_a_name_against_its_pattern_and_length(emu):
    sm = boto3.client("sagemaker", region_name="us-east-1")
    err = _error(sm.describe_notebook_instance, NotebookInstanceName="-" + "x" * 63)
    assert err["Code"] == "ValidationException"
    assert err["Message"].startswith("2 validation errors detected: ")
    assert "Member must have length less than or equal to 63" in err["Message"]


def test_sagemaker_refuses_a_value_of_the_wrong_type(emu):
    sm = boto3.client("sagemaker", region_name="us-east-1", config=UNCHECKED)
    err = _error(sm.create_notebook_instance, NotebookInstanceName="nb",
                 InstanceType="ml.g4dn.xlarge", RoleArn=ROLE, VolumeSizeInGB="big")
    assert err["Code"] == "SerializationException"


def test_eventbridge_scheduler_refuses_a_value_outside_its_enum(emu):
    scheduler = boto3.client("scheduler", region_name="us-east-1")
    err = _error(scheduler.create_schedule, Name="nb-stop", ScheduleExpression="cron(0 8 * * ? *)",
                 FlexibleTimeWindow={"Mode": "SOMETIMES"},
                 Target={"Arn": "arn:aws:scheduler:::aws-sdk:sagemaker:stopNotebookInstance",
                         "RoleArn": ROLE})
    assert err["Code"] == "ValidationException" and "'flexibleTimeWindow.mode'" in err["Message"]
