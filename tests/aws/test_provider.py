"""The AWS provider through boto3 against moto (with tests/emulators/aws's extensions)."""
from __future__ import annotations

import base64
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
from nbctl_cloud.errors import AuthError, CapacityError, UserError
from nbctl_cloud.model import InstanceSpec, Schedule, State

from tests.aws.specs import decoded, nb_spec, spot_spec, wait_state
from tests.emulators.aws.cron_engine import EventBridgeCron


def test_importing_the_provider_imports_no_sdk():
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", "import nbctl_cloud.providers.aws"],
                         capture_output=True, text=True, check=True).stderr
    assert not [m for m in ("boto3", "botocore") if f" {m}" in out]


def test_on_demand_is_a_sagemaker_notebook_of_the_catalog_type_with_tags(aws, emu):
    inst = aws.create(nb_spec(disk_gb=50))
    nb = emu.sagemaker_backend().notebook_instances["nb"]
    assert (nb.instance_type, nb.volume_size_in_gb) == ("ml.g4dn.xlarge", 50)
    assert {t["Key"] for t in nb.tags} >= {"nbctl-name", "nbctl-owner", "nbctl-spec-hash"}
    assert inst.state is State.PROVISIONING and inst.backend == "sagemaker"
    assert wait_state(aws, "nb", State.RUNNING).url.startswith("https://us-east-1.console.aws")


def test_missing_role_is_a_user_error_naming_the_config_key(emu):
    from nbctl_cloud.providers.aws import AwsProvider
    with pytest.raises(UserError, match="role_arn"):
        AwsProvider({"region": "us-east-1"}).validate_spec(nb_spec())


def test_create_twice_makes_one_notebook(aws, emu):
    first = aws.create(nb_spec())
    again = aws.create(nb_spec())  # a retried request: SageMaker refuses the duplicate name
    assert again.native_id == first.native_id
    assert list(emu.sagemaker_backend().notebook_instances) == ["nb"]


def test_up_of_an_existing_name_sends_no_second_create(aws, emu):
    from nbctl_cloud import lifecycle
    from nbctl_cloud.store import Store

    lifecycle.up(aws, nb_spec(), store=Store(), wait=False)
    again, created = lifecycle.up(aws, nb_spec(), store=Store(), wait=False)
    assert again.name == "nb" and not created
    assert emu.count("CreateNotebookInstance") == 1


def test_notebook_url_is_presigned(aws, emu):
    aws.create(nb_spec())
    wait_state(aws, "nb", State.RUNNING)
    assert "authToken=" in aws.notebook_url("nb")
    assert emu.count("CreatePresignedNotebookInstanceUrl") == 1


def test_idle_timeout_attaches_a_lifecycle_config_that_embeds_the_agent(aws, emu, tmp_path):
    aws.create(nb_spec(idle_timeout=1800))
    nb = emu.sagemaker_backend().notebook_instances["nb"]
    config = emu.sagemaker_backend().notebook_instance_lifecycle_configurations[nb.lifecycle_config_name]
    content = config.on_start[0]["Content"]
    assert len(content) <= 16384
    script = base64.b64decode(content).decode()
    (tmp_path / "on-start.sh").write_text(script)
    subprocess.run(["bash", "-n", str(tmp_path / "on-start.sh")], check=True)
    assert "nbctl_agent" in script and "--idle-timeout 1800" in script
    assert "stop-notebook-instance" in script and "resource-metadata.json" in script


def test_stop_start_and_delete_of_a_notebook(aws, emu):
    aws.create(nb_spec(idle_timeout=600))
    wait_state(aws, "nb", State.RUNNING)
    aws.stop("nb")
    wait_state(aws, "nb", State.STOPPED)
    aws.start("nb")
    wait_state(aws, "nb", State.RUNNING)
    aws.delete("nb")  # stops first: SageMaker deletes only stopped notebooks
    wait_state(aws, "nb", State.DELETED)
    assert emu.sagemaker_backend().notebook_instance_lifecycle_configurations == {}
    aws.delete("nb")  # missing: silent


def test_preemptible_is_a_persistent_spot_instance_that_stops(aws, emu):
    inst = aws.create(spot_spec(disk_gb=100).with_zone("us-east-1b"))
    run = emu.calls("RunInstances")[0].params
    assert run["InstanceMarketOptions.MarketType"] == "spot"
    assert run["InstanceMarketOptions.SpotOptions.SpotInstanceType"] == "persistent"
    assert run["InstanceMarketOptions.SpotOptions.InstanceInterruptionBehavior"] == "stop"
    assert run["InstanceInitiatedShutdownBehavior"] == "stop"
    assert run["Placement.AvailabilityZone"] == "us-east-1b" and run["ClientToken"]
    assert run["BlockDeviceMapping.1.Ebs.VolumeSize"] == "100"
    script = decoded(run["UserData"])
    assert "--preemption ec2" in script and "shutdown -h now" in script
    assert inst.preemptible and inst.zone == "us-east-1b"
    d = emu.ec2_backend().get_instance_by_id(inst.native_id)
    assert d.lifecycle == "spot" and d.image_id in emu.ec2_backend().amis


def test_the_newest_deep_learning_ami_is_chosen(aws, emu):
    newest = emu.seed_dlami(name="Deep Learning OSS Nvidia Driver AMI GPU PyTorch 2.6 20250601",
                            created="2025-06-01T00:00:00.000Z")
    inst = aws.create(spot_spec().with_zone("us-east-1a"))
    assert emu.ec2_backend().get_instance_by_id(inst.native_id).image_id == newest


def test_a_repeated_launch_reuses_the_client_token(aws, emu):
    first = aws.create(spot_spec().with_zone("us-east-1a"))
    aws.locations.forget("sp")  # the location was never written down
    aws.ec2.create(spot_spec(), "us-east-1a", aws.launches.current("sp"))  # first answer lost
    assert len(aws.list({"nbctl-name": "sp"})) == 1
    assert aws.get("sp").native_id == first.native_id


def test_spot_delete_cancels_its_request_and_terminates(aws, emu):
    aws.create(spot_spec().with_zone("us-east-1a"))
    aws.delete("sp")
    assert emu.ec2_backend().spot_instance_requests == {}
    wait_state(aws, "sp", State.DELETED)


def test_spot_interruption_is_a_preemption_from_the_cloud_record(aws, emu):
    inst = aws.create(spot_spec().with_zone("us-east-1a"))
    wait_state(aws, "sp", State.RUNNING)
    emu.interrupt_spot(inst.native_id)
    assert wait_state(aws, "sp", State.PREEMPTED).state is State.PREEMPTED
    found = aws.preemptions(datetime.now(timezone.utc) - timedelta(minutes=5))
    assert [p.name for p in found] == ["sp"]
    assert "SpotInstanceShutdown" in found[0].source


def test_list_makes_one_call_per_region_and_backend(aws, emu):
    aws.create(nb_spec())
    aws.create(spot_spec().with_zone("us-east-1a"))
    aws.create(spot_spec("sp2").with_zone("us-east-1a"))
    before_d, before_l = emu.count("DescribeInstances"), emu.count("ListNotebookInstances")
    names = sorted(i.name for i in aws.list({"nbctl-owner": "tester"}))
    assert names == ["nb", "sp", "sp2"]
    assert emu.count("DescribeInstances") - before_d == 1
    assert emu.count("ListNotebookInstances") - before_l == 1


def test_capacity_in_first_zone_fails_over_to_the_next_leaving_nothing(aws, emu):
    from nbctl_cloud import lifecycle
    from nbctl_cloud.store import Store

    emu.inject("ec2", "RunInstances", "InsufficientInstanceCapacity",
               "We currently do not have sufficient g4dn.xlarge capacity in the Availability "
               "Zone you requested (us-east-1a).", status=500,
               when=lambda p: p.get("Placement.AvailabilityZone") == "us-east-1a")
    spec = InstanceSpec(name="sp", provider="aws", gpu="t4", gpu_count=1, preemptible=True,
                        zones=("us-east-1a", "us-east-1b"), owner="tester")
    inst, created = lifecycle.up(aws, spec, store=Store(), wait=True, timeout=10)
    assert created and inst.zone == "us-east-1b" and inst.state is State.RUNNING
    assert len(aws.list({"nbctl-name": "sp"})) == 1


def test_capacity_everywhere_is_a_capacity_error(aws, emu):
    emu.inject("ec2", "RunInstances", "InsufficientInstanceCapacity", "none", status=500,
               times=None)
    with pytest.raises(CapacityError):
        aws.create(spot_spec().with_zone("us-east-1a"))
    assert aws.list() == []


def test_throttling_is_retried(aws, emu):
    emu.inject("sagemaker", "DescribeNotebookInstance", "ThrottlingException", "Rate exceeded",
               times=2)
    assert aws.get("nb") is None
    assert emu.count("DescribeNotebookInstance") == 3


def test_access_denied_is_not_retried_and_names_the_permission(aws, emu):
    emu.inject("sagemaker", "CreateNotebookInstance", "AccessDeniedException",
               "User: arn:aws:iam::123456789012:user/ana is not authorized to perform: "
               "sagemaker:CreateNotebookInstance on resource: arn:aws:sagemaker:us-east-1:"
               "123456789012:notebook-instance/nb", times=None)
    with pytest.raises(AuthError, match="sagemaker:CreateNotebookInstance"):
        aws.create(nb_spec())
    assert emu.count("CreateNotebookInstance") == 1


def test_schedule_is_one_eventbridge_schedule_firing_as_the_cron(aws, emu):
    from zoneinfo import ZoneInfo

    import boto3
    from croniter import croniter

    aws.create(nb_spec())
    aws.set_schedule("nb", Schedule(tz="America/New_York", stop="0 19 * * 1-5"))
    client = boto3.client("scheduler", region_name="us-east-1")
    listed = client.list_schedules(GroupName="nbctl-tester")["Schedules"]
    assert [s["Name"] for s in listed] == ["nb-stop"]
    s = client.get_schedule(Name="nb-stop", GroupName="nbctl-tester")
    assert s["Target"]["Arn"] == "arn:aws:scheduler:::aws-sdk:sagemaker:stopNotebookInstance"
    assert s["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert s["ScheduleExpressionTimezone"] == "America/New_York"
    tz = ZoneInfo("America/New_York")
    start, end = datetime(2025, 1, 1, tzinfo=tz), datetime(2026, 1, 1, tzinfo=tz)
    fires = EventBridgeCron(s["ScheduleExpression"], "America/New_York").fires(start, end)
    it = croniter("0 19 * * 1-5", start)
    expected = []
    while (t := it.get_next(datetime)) < end:
        expected.append(t)
    assert fires == expected
    aws.clear_schedule("nb")
    assert client.list_schedules(GroupName="nbctl-tester")["Schedules"] == []


def test_spot_schedule_targets_the_instance_id(aws, emu):
    import json

    import boto3

    inst = aws.create(spot_spec().with_zone("us-east-1a"))
    aws.set_schedule("sp", Schedule(tz="UTC", start="0 8 * * 1-5"))
    s = boto3.client("scheduler", region_name="us-east-1").get_schedule(
        Name="sp-start", GroupName="nbctl-tester")
    assert s["Target"]["Arn"] == "arn:aws:scheduler:::aws-sdk:ec2:startInstances"
    assert json.loads(s["Target"]["Input"]) == {"InstanceIds": [inst.native_id]}
