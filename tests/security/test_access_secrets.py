"""Read-only cloud access opens no notebook: nothing nbctl puts on the three emulated clouds
(GCE metadata, EC2 user data and tags, Paperspace startup-script objects) holds the Jupyter
token, which is made on the machine at its first boot.

Each boot script is run as its machine runs it (under NBCTL_ROOT, with a stand-in
jupyter-lab), and the token it made is then looked for in everything the cloud shows.
"""
from __future__ import annotations

import base64
import gzip
import email
import os
import signal
import subprocess
from pathlib import Path

from tests.agent.fakes import install_fake_jupyter_lab
from tests.emulators.aws import AwsEmulator
from tests.emulators.aws import Delays as AwsDelays
from tests.emulators.gcp import Delays, GcpEmulator
from tests.emulators.paperspace import Delays as PsDelays
from tests.emulators.paperspace import PaperspaceEmulator

# what opened the notebook before: a token key, a token line, a token or password flag
OLD_WAYS = ("nbctl-jupyter-token", "?token=", ".token=", "password")


def boot(script: str, tmp_path: Path) -> str:
    """Run a boot script as its machine would; return the Jupyter token it made."""
    root, bindir = tmp_path / "root", tmp_path / "bin"
    bindir.mkdir()
    install_fake_jupyter_lab(bindir, tmp_path / "jupyter-runs.jsonl")
    env = dict(os.environ, NBCTL_ROOT=str(root), PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}")
    env.pop("PYTHONPATH", None)
    (tmp_path / "boot.sh").write_text(script)
    try:
        done = subprocess.run(["bash", str(tmp_path / "boot.sh")], env=env, capture_output=True,
                              text=True, timeout=60)
    finally:
        for pid_file in (root / "run" / "nbctl").glob("*.pid"):
            try:
                os.kill(int(pid_file.read_text()), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
    assert done.returncode == 0, done.stderr
    token = (root / "opt" / "nbctl" / "jupyter-token").read_text().strip()
    assert len(token) >= 32
    return token


def assert_opens_nothing(token: str, shown: dict[str, str]) -> None:
    for where, text in shown.items():
        assert token not in text, f"the Jupyter token is in {where}"
        low = text.lower()
        assert not [w for w in OLD_WAYS if w in low], f"{where} offers a way in"


def test_gce_metadata_holds_nothing_that_opens_the_notebook(monkeypatch, tmp_path):
    from nbctl_cloud.providers.gcp import GcpProvider

    from tests.gcp.helpers import spot, wait_state
    emu = GcpEmulator(delays=Delays(operation=0.05, provision=0.2, stop=0.1, delete=0.1,
                                    wait_timeout=1.0, notice=0.0)).start()
    monkeypatch.setenv("NBCTL_HOME", str(tmp_path / "home"))
    for key, value in emu.env().items():
        monkeypatch.setenv(key, value)
    gcp = GcpProvider({"region": "us-central1"}, owner="tester")
    try:
        from nbctl_cloud.model import State
        gcp.create(spot("sp1"))
        wait_state(gcp, "sp1", State.RUNNING)
        inst = emu.compute.instances[("us-central1-a", "sp1")]
        items = {i["key"]: i.get("value", "") for i in inst["metadata"]["items"]}
    finally:
        gcp.close()
        emu.stop()
    assert items["ssh-keys"].startswith("nbctl-admin:ssh-ed25519 ")
    token = boot(items["startup-script"], tmp_path)
    assert_opens_nothing(token, {f"metadata item {k}": v for k, v in items.items()})


def test_ec2_user_data_and_tags_hold_nothing_that_opens_the_notebook(monkeypatch, tmp_path):
    import boto3
    from nbctl_cloud.model import InstanceSpec
    from nbctl_cloud.providers.aws import AwsProvider

    emu = AwsEmulator(delays=AwsDelays(provision=0.3, stop=0.2, delete=0.2)).start()
    monkeypatch.setenv("NBCTL_HOME", str(tmp_path / "home"))
    for key, value in emu.env().items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_REGION", "NBCTL_AWS_ROLE_ARN"):
        monkeypatch.delenv(key, raising=False)
    emu.seed_dlami()
    aws = AwsProvider({"region": "us-east-1"}, owner="tester")
    try:
        aws.create(InstanceSpec(name="sp1", provider="aws", gpu="t4", gpu_count=1,
                                preemptible=True, owner="tester").stamped())
        ec2 = boto3.client("ec2", region_name="us-east-1")
        shown = {}
        for r in ec2.describe_instances()["Reservations"]:
            for i in r["Instances"]:
                attr = ec2.describe_instance_attribute(InstanceId=i["InstanceId"],
                                                       Attribute="userData")
                raw = base64.b64decode(attr["UserData"]["Value"])
                shown[f"user data of {i['InstanceId']}"] = gzip.decompress(raw).decode()
                shown[f"tags of {i['InstanceId']}"] = repr(i.get("Tags"))
    finally:
        aws.close()
        emu.stop()
    assert len(shown) == 2
    user_data = next(v for k, v in shown.items() if k.startswith("user data"))
    # cloud-init's MIME multi-part: the shell-script part is what the instance runs
    parts = email.message_from_string(user_data).walk()
    script = next(p.get_payload() for p in parts if p.get_content_type() == "text/x-shellscript")
    assert "ssh-ed25519 " in script  # nbctl-admin's public key: the way in is SSH
    assert_opens_nothing(boot(script, tmp_path), shown)


def test_paperspace_startup_scripts_hold_nothing_that_opens_the_notebook(monkeypatch, tmp_path):
    from nbctl_cloud.model import InstanceSpec
    from nbctl_cloud.providers.paperspace import PaperspaceProvider

    emu = PaperspaceEmulator(delays=PsDelays(provision=0.3, start=0.15, stop=0.15,
                                             delete=0.1)).start()
    for key, value in emu.env().items():
        monkeypatch.setenv(key, value)
    ps = PaperspaceProvider({"region": "ny2"}, owner="tester")
    try:
        ps.create(InstanceSpec(name="ps1", provider="paperspace", gpu="a4000", gpu_count=1,
                               owner="tester").stamped())
        # every startup-script object as Paperspace holds it, its script text included
        shown = {f"startup script {o['name']}": repr(o) for o in emu.scripts.values()}
        scripts = [o.get("_script") or "" for o in emu.scripts.values()]
    finally:
        ps.close()
        emu.stop()
    script = next(s for s in scripts if "nbctl_agent" in s)
    assert "ssh-ed25519 " in script
    assert_opens_nothing(boot(script, tmp_path), shown)
