"""`nbctl` in a subprocess against moto served on loopback (tests/emulators/aws)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.aws.conftest import ROLE, SCHEDULER_ROLE
from tests.aws.specs import on_start_script, user_data_of
from tests.conftest import REPO

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
    ok(cli("down", "sp", "--yes"))
    assert emu.ec2_backend().spot_instance_requests == {}


def test_schedule_through_the_cli_makes_one_eventbridge_schedule(cli, emu):
    ok(cli("up", "nb", "--provider", "aws", "--gpu", "t4", "--schedule-stop", "0 19 * * 1-5",
           "--tz", "America/New_York", "--output", "json"))
    assert emu.count("CreateSchedule") == 1
    call = emu.calls("CreateSchedule")[0].params
    assert call["ScheduleExpression"] == "cron(0 19 ? * 2-6 *)"
    assert call["ScheduleExpressionTimezone"] == "America/New_York"


def test_a_schedule_eventbridge_refuses_leaves_the_old_one_working(cli, emu):
    ok(cli("up", "nb", "--provider", "aws", "--gpu", "t4", "--schedule-stop", "0 19 * * 1-5",
           "--tz", "America/New_York", "--no-wait"))
    deletes, writes = emu.count("DeleteSchedule"), len(emu.calls())
    refused = cli("schedule", "set", "nb", "--stop", "0 0 1 * 1", "--tz", "America/New_York")
    assert refused.returncode == 2 and "EventBridge" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert emu.count("DeleteSchedule") == deletes
    assert not [c for c in emu.calls()[writes:] if "Schedule" in c.action]  # nothing touched
    shown = ok(cli("schedule", "show", "nb", "--output", "json"))
    assert shown["stop"] == "0 19 * * 1-5" and shown["engine"] == "native"
    replaced = ok(cli("schedule", "set", "nb", "--stop", "30 18 * * 1-5", "--tz",
                      "America/New_York", "--output", "json"))
    assert replaced["engine"] == "native"
    assert emu.calls("UpdateSchedule")[-1].params["ScheduleExpression"] == "cron(30 18 ? * 2-6 *)"
    assert emu.count("CreateSchedule") == 1  # replaced in place, not made twice


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


def killed_once_create_reached_the_cloud(emu, service: str, action: str, *args: str) -> None:
    """Run `nbctl *args` and SIGKILL it once its create request has reached the emulator. The
    emulator carries the request out but answers only later (Hold), as a cloud that accepted
    a request whose answer never reached its caller."""
    emu.hold(service, action, seconds=1.0)
    env = {**os.environ, "NBCTL_POLL_INTERVAL": "0.05", "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "nbctl_cloud", *args], env=env, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while emu.count(action, service) == 0:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"`nbctl {' '.join(args)}` never sent {action}")
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=10) == -signal.SIGKILL


def test_up_rerun_after_a_kill_mid_create_leaves_one_notebook(cli, emu):
    args = ("up", "nb", "--provider", "aws", "--gpu", "t4", "--output", "json")
    killed_once_create_reached_the_cloud(emu, "sagemaker", "CreateNotebookInstance", *args)
    again = ok(cli(*args))
    assert again["state"] == "RUNNING" and again["created"] is False
    notebooks = emu.sagemaker_backend().notebook_instances
    assert list(notebooks) == ["nb"]
    assert {t["Key"]: t["Value"] for t in notebooks["nb"].tags}["nbctl-name"] == "nb"
    assert emu.count("CreateNotebookInstance") == 1


def test_up_rerun_after_a_kill_mid_create_leaves_one_spot_instance(cli, emu):
    args = ("up", "sp", "--provider", "aws", "--gpu", "t4", "--preemptible", "--zone",
            "us-east-1a,us-east-1b", "--output", "json")
    killed_once_create_reached_the_cloud(emu, "ec2", "RunInstances", *args)
    again = ok(cli(*args))
    assert again["state"] == "RUNNING" and again["created"] is False
    live = [i for r in emu.ec2_backend().reservations.values() for i in r.instances
            if i.state != "terminated"]
    assert len(live) == 1 and live[0].lifecycle == "spot"
    assert {t["key"]: t["value"] for t in live[0].get_tags()}["nbctl-name"] == "sp"
    assert emu.count("RunInstances") == 1


def test_idle_command_changes_and_turns_off_a_notebooks_idle_shutdown(cli, emu):
    ok(cli("up", "nb", "--provider", "aws", "--gpu", "t4", "--idle-timeout", "30m",
           "--no-wait"))
    changed = ok(cli("idle", "nb", "--timeout", "45m", "--output", "json"))
    assert changed["idle_timeout"] == 2700
    assert "next start" in changed["warnings"][0]  # it is starting: SageMaker runs OnStart once
    assert "--idle-timeout 2700" in on_start_script(emu)
    assert ok(cli("idle", "nb", "--off", "--output", "json"))["idle_timeout"] is None
    assert "--idle-timeout 0" in on_start_script(emu)


def test_idle_command_on_a_spot_instance_asks_to_stop_it_first(cli, emu):
    ok(cli("up", "sp", "--provider", "aws", "--gpu", "t4", "--preemptible", "--zone",
           "us-east-1a", "--output", "json"))
    refused = cli("idle", "sp", "--timeout", "30m")
    assert refused.returncode != 0 and "nbctl stop sp" in refused.stderr
    ok(cli("stop", "sp"))
    ok(cli("idle", "sp", "--timeout", "30m", "--output", "json"))
    (inst,) = [i for r in emu.ec2_backend().reservations.values() for i in r.instances]
    assert "--idle-timeout 1800" in user_data_of(emu, inst.id)
