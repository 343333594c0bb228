"""Emulated EC2 instances that boot for real, through boto3 against the emulator: user data
runs under the instance's own root and reaches IMDSv2; a spot interruption notice shows in the
metadata, the guest gets SIGTERM, then the power goes and the instance is stopped; only EC2
restarts it, and cloud-init's rule decides what of the user data runs again. nbctl's own EC2
user data boots its agent there, which reads the notice through IMDSv2."""
from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.aws.conftest import CONFIG
from tests.aws.specs import spot_spec
from tests.conftest import wait_for
from tests.emulators.aws import AwsEmulator, Delays

WAIT = 60.0  # seconds: only a broken emulator waits this long
# stop/delete: how long the guest's shutdown lasts between SIGTERM and the power going
BOOT_DELAYS = Delays(provision=0.2, stop=1.0, delete=0.5)

# ignores SIGTERM (notes it) so that only the power-off ends it
SCRIPT = """#!/bin/bash
echo "$$" > "$NBCTL_ROOT/script.pid"
echo booted >> "$NBCTL_ROOT/boots"
trap 'date +%s.%N > "$NBCTL_ROOT/got-term"' TERM
while :; do sleep 0.05; done
"""
# reads its own instance id through IMDSv2, as nbctl's agent does
PROBE = """#!/bin/bash
python3 - <<'EOF'
import os, urllib.request as u
tok = u.urlopen(u.Request("http://169.254.169.254/latest/api/token", method="PUT",
      headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"}), timeout=10).read().decode()
iid = u.urlopen(u.Request("http://169.254.169.254/latest/meta-data/instance-id",
      headers={"X-aws-ec2-metadata-token": tok}), timeout=10).read().decode()
open(os.environ["NBCTL_ROOT"] + "/seen-id", "w").write(iid)
EOF
"""


@pytest.fixture
def emu(tmp_path, monkeypatch):
    emulator = AwsEmulator(delays=BOOT_DELAYS, run_instances=True,
                           base_dir=str(tmp_path / "ec2")).start()
    emulator.reset()
    for key, value in emulator.env().items():
        monkeypatch.setenv(key, value)
    yield emulator
    emulator.reset()
    emulator.stop()


@pytest.fixture
def ec2(emu):
    return boto3.client("ec2", region_name="us-east-1")


def launch(emu, ec2, user_data: str, *, spot: str | None = "stop", tokens="required",
           tags_in_metadata="disabled", tags=None) -> str:
    params = {"ImageId": emu.seed_dlami(), "InstanceType": "g4dn.xlarge", "MinCount": 1,
              "MaxCount": 1, "UserData": user_data,
              "Placement": {"AvailabilityZone": "us-east-1b"},
              "MetadataOptions": {"HttpTokens": tokens, "HttpEndpoint": "enabled",
                                  "InstanceMetadataTags": tags_in_metadata}}
    if spot:
        params["InstanceMarketOptions"] = {"MarketType": "spot", "SpotOptions": {
            "SpotInstanceType": "persistent" if spot == "stop" else "one-time",
            "InstanceInterruptionBehavior": spot}}
    if tags:
        params["TagSpecifications"] = [{"ResourceType": "instance", "Tags": [
            {"Key": k, "Value": v} for k, v in tags.items()]}]
    instance_id = ec2.run_instances(**params)["Instances"][0]["InstanceId"]
    wait_for(lambda: state(ec2, instance_id) == "running", WAIT, what="running")
    wait_for(lambda: emu.machine(instance_id) is not None, WAIT, what="a boot")
    return instance_id


def state(ec2, instance_id: str) -> str:
    return ec2.describe_instances(InstanceIds=[instance_id])[
        "Reservations"][0]["Instances"][0]["State"]["Name"]


def imds(machine, path: str, *, token: str | None = None, method="GET", headers=None):
    """(status, body) of a request to the machine's IMDS, sent as the instance sends it."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": machine.imds.proxy}))
    headers = dict(headers or {})
    if token:
        headers["X-aws-ec2-metadata-token"] = token
    req = urllib.request.Request(f"http://169.254.169.254{path}", headers=headers, method=method)
    try:
        with opener.open(req, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def token(machine, ttl="300") -> str:
    status, body = imds(machine, "/latest/api/token", method="PUT",
                        headers={"X-aws-ec2-metadata-token-ttl-seconds": ttl})
    assert status == 200
    return body


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] not in "ZX"
    except (OSError, IndexError):
        return False


def script_pid(machine) -> int:
    path = machine.root / "script.pid"
    wait_for(lambda: path.exists() and path.read_text().strip(), WAIT, what="the script's pid")
    return int(path.read_text())


def test_user_data_runs_under_its_own_root_and_reads_imdsv2(emu, ec2):
    instance_id = launch(emu, ec2, PROBE)
    m = emu.machine(instance_id)
    seen = m.root / "seen-id"
    wait_for(seen.exists, WAIT, what="the user data's IMDS answer")
    assert seen.read_text() == instance_id
    assert m.ran == [["part-001"]]


def test_imds_without_a_token_is_refused_when_tokens_are_required(emu, ec2):
    m = emu.machine(launch(emu, ec2, SCRIPT))
    assert imds(m, "/latest/meta-data/instance-id")[0] == 401
    assert imds(m, "/latest/meta-data/instance-id", token="not-a-token")[0] == 401
    good = token(m)
    assert imds(m, "/latest/meta-data/instance-id", token=good) == (200, m.instance_id)
    assert imds(m, "/latest/meta-data/placement/availability-zone", token=good) == \
        (200, "us-east-1b")
    assert imds(m, "/latest/meta-data/instance-life-cycle", token=good) == (200, "spot")
    assert imds(m, "/latest/user-data", token=good) == (200, SCRIPT)


@pytest.mark.parametrize("ttl", ["0", "21601", "ten", None])
def test_imds_refuses_a_token_request_with_a_bad_ttl(emu, ec2, ttl):
    m = emu.machine(launch(emu, ec2, SCRIPT))
    headers = {} if ttl is None else {"X-aws-ec2-metadata-token-ttl-seconds": ttl}
    assert imds(m, "/latest/api/token", method="PUT", headers=headers)[0] == 400


def test_imdsv1_answers_when_tokens_are_optional(emu, ec2):
    m = emu.machine(launch(emu, ec2, SCRIPT, spot=None, tokens="optional"))
    assert imds(m, "/latest/meta-data/instance-life-cycle") == (200, "on-demand")
    assert imds(m, "/latest/meta-data/spot/instance-action")[0] == 404


def test_instance_tags_are_in_the_metadata_only_when_enabled(emu, ec2):
    tags = {"Name": "sp", "nbctl-owner": "tester"}
    shown = emu.machine(launch(emu, ec2, SCRIPT, tags_in_metadata="enabled", tags=tags))
    hidden = emu.machine(launch(emu, ec2, SCRIPT, tags=tags))
    t = token(shown)
    assert imds(shown, "/latest/meta-data/tags/instance", token=t) == (200, "Name\nnbctl-owner")
    assert imds(shown, "/latest/meta-data/tags/instance/nbctl-owner", token=t) == (200, "tester")
    assert imds(hidden, "/latest/meta-data/tags/instance/Name", token=token(hidden))[0] == 404


def test_a_rebalance_recommendation_shows_in_the_metadata(emu, ec2):
    m = emu.machine(launch(emu, ec2, SCRIPT))
    path = "/latest/meta-data/events/recommendations/rebalance"
    assert imds(m, path, token=token(m))[0] == 404
    before = datetime.now(timezone.utc).replace(microsecond=0)
    emu.recommend_rebalance(m.instance_id)
    status, body = imds(m, path, token=token(m))
    assert status == 200
    noticed = datetime.strptime(json.loads(body)["noticeTime"], "%Y-%m-%dT%H:%M:%SZ")
    assert noticed.replace(tzinfo=timezone.utc) >= before


def interrupted(emu, ec2, *, notice=1.0):
    """A running spot instance (stop behaviour) through its interruption notice, stopped."""
    instance_id = launch(emu, ec2, SCRIPT)
    m = emu.machine(instance_id)
    pid = script_pid(m)
    assert os.getpgid(pid) == m.proc.pid != os.getpgid(0)  # a process group of its own
    t = token(m)  # before the notice: its window need hold only the one GET
    before = datetime.now(timezone.utc).replace(microsecond=0)
    emu.interrupt_spot(instance_id, notice=notice)
    status, body = imds(m, "/latest/meta-data/spot/instance-action", token=t)
    wait_for(lambda: state(ec2, instance_id) == "stopped", WAIT, what="stopped")
    return instance_id, m, pid, before, status, body


def test_an_interruption_notice_shows_then_sigterm_then_power_off(emu, ec2):
    instance_id, m, pid, before, status, body = interrupted(emu, ec2)
    assert status == 200
    action = json.loads(body)
    assert action["action"] == "stop"
    when = datetime.strptime(action["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert when >= before + timedelta(seconds=1)  # the notice's 1 s, in whole seconds
    wait_for(lambda: not alive(pid), WAIT, what="the power-off")
    got_term = float((m.root / "got-term").read_text())  # SIGTERM came first, and it lived on
    assert got_term >= when.timestamp()
    described = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0][
        "Instances"][0]
    assert described["StateReason"]["Code"] == "Server.SpotInstanceShutdown"
    assert m.imds is None and m.root.exists()  # powered off; its volume stays


def test_only_ec2_restarts_an_interrupted_instance_and_the_script_runs_only_at_first_boot(
        emu, ec2):
    instance_id, m, *_ = interrupted(emu, ec2)
    with pytest.raises(ClientError) as info:
        ec2.start_instances(InstanceIds=[instance_id])
    assert info.value.response["Error"]["Code"] == "IncorrectSpotRequestState"
    emu.spot_capacity_returns(instance_id)
    wait_for(lambda: state(ec2, instance_id) == "running", WAIT, what="EC2's restart")
    wait_for(lambda: len(m.ran) == 2, WAIT, what="cloud-init's second boot")
    assert m.ran == [["part-001"], []]  # cloud-init: a #! script runs once per instance
    assert (m.root / "boots").read_text() == "booted\n"
    assert imds(m, "/latest/meta-data/spot/instance-action", token=token(m))[0] == 404


BOOTHOOK = "#cloud-boothook\n#!/bin/sh\necho booted >> \"$NBCTL_ROOT/boots\"\n"
MIME_ALWAYS = """Content-Type: multipart/mixed; boundary="==b=="
MIME-Version: 1.0

--==b==
Content-Type: text/cloud-config; charset="us-ascii"

cloud_final_modules:
- [scripts-user, always]

--==b==
Content-Type: text/x-shellscript; charset="us-ascii"

#!/bin/sh
echo booted >> "$NBCTL_ROOT/boots"
--==b==--
"""
# the first boot leaves a script for cloud-init's scripts_per_boot to run at every later boot
PER_BOOT = """#!/bin/sh
d="$NBCTL_ROOT/var/lib/cloud/scripts/per-boot"
mkdir -p "$d"
printf '#!/bin/sh\\necho booted >> "$NBCTL_ROOT/boots"\\n' > "$d/nbctl.sh"
chmod 755 "$d/nbctl.sh"
echo booted >> "$NBCTL_ROOT/boots"
"""


@pytest.mark.parametrize("user_data,boots", [
    (SCRIPT.replace("while :; do sleep 0.05; done\n", ""), "booted\n"),
    (BOOTHOOK, "booted\nbooted\n"),
    (MIME_ALWAYS, "booted\nbooted\n"),
    (PER_BOOT, "booted\nbooted\n"),
], ids=["script-once", "boothook-every-boot", "scripts-user-always", "per-boot-folder"])
def test_what_runs_again_after_a_stop_and_start_follows_cloud_init(emu, ec2, user_data, boots):
    instance_id = launch(emu, ec2, user_data, spot=None)
    m = emu.machine(instance_id)
    ec2.stop_instances(InstanceIds=[instance_id])
    wait_for(lambda: state(ec2, instance_id) == "stopped", WAIT, what="stopped")
    ec2.start_instances(InstanceIds=[instance_id])
    wait_for(lambda: len(m.boots) == 2, WAIT, what="the second boot")
    wait_for(lambda: (m.root / "boots").exists() and (m.root / "boots").read_text() == boots,
             WAIT, what=f"boots to read {boots!r}")
    assert m.proc is None or m.proc.wait(timeout=WAIT) == 0


def test_cloud_config_is_recorded_and_nothing_of_it_runs(emu, ec2):
    m = emu.machine(launch(emu, ec2, "#cloud-config\nruncmd:\n- [touch, /tmp/x]\n", spot=None))
    assert m.ran == [[]] and m.proc is None
    assert m.ignored == ["#cloud-config"]


def test_a_terminate_notice_ends_with_the_instance_and_its_volume_gone(emu, ec2):
    instance_id = launch(emu, ec2, SCRIPT, spot="terminate")
    m = emu.machine(instance_id)
    pid = script_pid(m)
    t = token(m)
    emu.interrupt_spot(instance_id, notice=1.0)
    action = json.loads(imds(m, "/latest/meta-data/spot/instance-action", token=t)[1])
    assert action["action"] == "terminate"
    assert imds(m, "/latest/meta-data/spot/termination-time", token=t) == (200, action["time"])
    wait_for(lambda: state(ec2, instance_id) == "terminated", WAIT, what="terminated")
    wait_for(lambda: not alive(pid) and not m.root.exists(), WAIT, what="the volume deleted")


def test_a_power_off_from_the_guest_stops_the_instance(emu, ec2):
    instance_id = launch(emu, ec2, "#!/bin/sh\nshutdown -h now\n", spot=None)
    wait_for(lambda: state(ec2, instance_id) == "stopped", WAIT, what="stopped")
    described = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0][
        "Instances"][0]
    assert described["StateReason"]["Code"] == "Client.InstanceInitiatedShutdown"


def test_a_reset_ends_every_process_and_volume(emu, ec2):
    m = emu.machine(launch(emu, ec2, SCRIPT))
    pid = script_pid(m)
    emu.reset()
    assert not m.root.exists()
    wait_for(lambda: not alive(pid), WAIT, what="the killed script to end")
    assert [n for n in os.listdir(emu.instances.base) if n.startswith("i-")] == []  # no volume


def nbctl_spot_instance(emu):
    """An EC2 spot machine nbctl creates, once booted: (instance id, its emulated machine,
    the agent's state file there)."""
    from nbctl_cloud.providers.aws import AwsProvider

    emu.seed_dlami()
    provider = AwsProvider(dict(CONFIG), owner="tester")
    try:
        native_id = provider.create(spot_spec().with_zone("us-east-1a")).native_id
    finally:
        provider.close()
    wait_for(lambda: emu.machine(native_id) is not None, WAIT, what="a boot")
    m = emu.machine(native_id)
    return native_id, m, m.root / "var/lib/nbctl/agent-state.json"


def read_state(state_file) -> dict:
    """The agent's state file, or {} before its first check."""
    try:
        return json.loads(state_file.read_text())
    except (OSError, ValueError):
        return {}


def test_nbctls_own_user_data_boots_its_agent_which_hears_the_notice(emu, ec2):
    native_id, m, state_file = nbctl_spot_instance(emu)

    def agent_state() -> dict:
        return read_state(state_file)
    wait_for(lambda: agent_state(), WAIT, what="the agent's first check")
    assert "preemption_error" not in agent_state()  # it got an IMDSv2 token and asked
    emu.interrupt_spot(native_id, notice=600)  # a window as long as the checks need
    wait_for(lambda: "preemption" in agent_state(), WAIT, what="the agent to hear the notice")
    assert agent_state()["preemption"]["action"] == "stop"


def test_nbctls_user_data_starts_its_agent_again_when_ec2_restarts_the_instance(emu, ec2):
    """cloud-init runs a user-data script only at the first boot; nbctl's user data asks for
    `scripts-user` at every boot, so an instance EC2 restarts after an interruption is watched
    again (idle stop, notices) with no one logging in."""
    native_id, m, state_file = nbctl_spot_instance(emu)

    def agent_pid():
        try:
            return json.loads(state_file.read_text()).get("pid")
        except (OSError, ValueError):
            return None
    wait_for(agent_pid, WAIT, what="the agent's first check")
    first = agent_pid()
    emu.interrupt_spot(native_id)
    wait_for(lambda: state(ec2, native_id) == "stopped", WAIT, what="the interruption")
    emu.spot_capacity_returns(native_id)
    wait_for(lambda: len(m.ran) == 2, WAIT, what="EC2's restart and cloud-init's second boot")
    assert m.ran[1], "nothing of the user data ran at the second boot"
    wait_for(lambda: agent_pid() not in (None, first), WAIT, what="the agent of the second boot")


def test_nbctls_agent_relays_a_rebalance_recommendation_as_a_notice(emu, ec2):
    """EC2's rebalance recommendation (IMDS events/recommendations/rebalance) comes before an
    interruption, if at all: the agent treats it as a notice, so a job checkpoints early."""
    native_id, m, state_file = nbctl_spot_instance(emu)

    def agent_state() -> dict:
        return read_state(state_file)
    wait_for(lambda: agent_state(), WAIT, what="the agent's first check")
    emu.recommend_rebalance(native_id)
    wait_for(lambda: "preemption" in agent_state(), WAIT, what="the agent to hear it")
    assert agent_state()["preemption"]["action"] == "rebalance"
    assert "noticeTime" in agent_state()["preemption"]
