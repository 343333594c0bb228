"""`nbctl` in a subprocess against moto served on loopback (tests/emulators/aws)."""
from __future__ import annotations

import json

import pytest

from tests.aws.conftest import ROLE, SCHEDULER_ROLE

pytestmark = pytest.mark.slow


@pytest.fixture
def cli(emu, nbctl_home, nbctl):
    (nbctl_home / "config.toml").write_text(
        f'[providers.aws]\nregion = "us-east-1"\nrole_arn = "{ROLE}"\n'
        f'scheduler_role_arn = "{SCHEDULER_ROLE}"\n')

    def run(*args):
        return nbctl(*args, env={"NBCTL_POLL_INTERVAL": "0.05"})
    return run


def ok(result):
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if result.stdout.strip().startswith(("{", "[")) else result


def test_notebook_lifecycle_through_the_cli(cli, emu):
    up = ok(cli("up", "nb", "--provider", "aws", "--gpu", "t4", "--idle-timeout", "30m",
                "--output", "json"))
    assert up["state"] == "RUNNING" and up["backend"] == "sagemaker"
    assert "authToken=" in ok(cli("open", "nb", "--output", "json"))["url"]
    assert ok(cli("stop", "nb", "--output", "json"))["state"] == "STOPPED"
    assert ok(cli("start", "nb", "--output", "json"))["state"] == "RUNNING"
    rows = ok(cli("status", "--refresh", "--output", "json"))
    assert [(r["name"], r["state"]) for r in rows] == [("nb", "RUNNING")]
    ok(cli("down", "nb", "--yes", "--output", "json"))
    assert emu.sagemaker_backend().notebook_instances == {}


def test_spot_up_rerun_and_down_through_the_cli(cli, emu):
    up = ok(cli("up", "sp", "--provider", "aws", "--gpu", "t4", "--preemptible",
                "--zone", "us-east-1a,us-east-1b", "--output", "json"))
    assert up["preemptible"] and up["state"] == "RUNNING"
    again = ok(cli("up", "sp", "--provider", "aws", "--gpu", "t4", "--preemptible",
                   "--zone", "us-east-1a,us-east-1b", "--output", "json"))
    assert again["created"] is False
    live = [i for r in emu.ec2_backend().reservations.values() for i in r.instances]
    assert len(live) == 1 and live[0].lifecycle == "spot"
    assert "?token=" in ok(cli("open", "sp", "--output", "json"))["url"]
    ok(cli("down", "sp", "--yes"))
    assert emu.ec2_backend().spot_instance_requests == {}


def test_schedule_through_the_cli_makes_one_eventbridge_schedule(cli, emu):
    ok(cli("up", "nb", "--provider", "aws", "--gpu", "t4", "--schedule-stop", "0 19 * * 1-5",
           "--tz", "America/New_York", "--output", "json"))
    assert emu.count("CreateSchedule") == 1
    call = emu.calls("CreateSchedule")[0].params
    assert call["ScheduleExpression"] == "cron(0 19 ? * 2-6 *)"
    assert call["ScheduleExpressionTimezone"] == "America/New_York"


def test_capacity_in_the_first_zone_ends_in_the_next_through_the_cli(cli, emu):
    emu.inject("ec2", "RunInstances", "InsufficientInstanceCapacity", "no g4dn.xlarge capacity",
               status=500, times=None,
               when=lambda p: p.get("Placement.AvailabilityZone") == "us-east-1a")
    up = ok(cli("up", "sp", "--provider", "aws", "--gpu", "t4", "--preemptible",
                "--zone", "us-east-1a,us-east-1b", "--output", "json"))
    assert up["zone"] == "us-east-1b"
    live = [i for r in emu.ec2_backend().reservations.values() for i in r.instances]
    assert len(live) == 1


def test_access_denied_through_the_cli_names_the_permission(cli, emu):
    emu.inject("sagemaker", "CreateNotebookInstance", "AccessDeniedException",
               "User: arn:aws:iam::123456789012:user/ana is not authorized to perform: "
               "sagemaker:CreateNotebookInstance", times=None)
    r = cli("up", "nb", "--provider", "aws", "--gpu", "t4")
    assert r.returncode == 2
    assert "sagemaker:CreateNotebookInstance" in r.stderr
    assert emu.count("CreateNotebookInstance") == 1
