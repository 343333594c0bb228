"""The GCP provider's job verbs, through compute_v1 against the emulator: run_job puts the attempt
in the VM's metadata (once), cancel_job takes it out; and what recovery needs from the VM verbs."""
from __future__ import annotations

import json
from dataclasses import replace
from importlib.metadata import version

import pytest
from nbctl_cloud.errors import CapabilityError, CapacityError, Scope
from nbctl_cloud.model import Capability, JobSpec, State

from tests.gcp.helpers import notebook, spot, wait_state

SET_METADATA = "compute.instances.setMetadata"
RUNTIME_SHA256 = "ab" * 32


def job_for(spec, run_id="run-1") -> JobSpec:
    return JobSpec(run_id=run_id, instance=spec, command=["python3", "train.py", "--steps", "9"],
                   checkpoint_url="gs://bucket/run-1", workdir="/home/me/project",
                   workdir_url="gs://bucket/run-1/_nbctl/run-1/workdir.tar.gz",
                   runtime_url="gs://bucket/run-1/_nbctl/run-1/runtime.tar.gz",
                   runtime_sha256=RUNTIME_SHA256)


def job_attribute(emu, name="sp1", zone="us-central1-a") -> dict | None:
    items = {i["key"]: i["value"] for i in emu.compute.instances[(zone, name)]["metadata"]["items"]}
    return json.loads(items["nbctl-job"]) if "nbctl-job" in items else None


def test_the_gcp_provider_offers_jobs():
    from nbctl_cloud.providers.gcp import GcpProvider
    assert Capability.JOBS in GcpProvider.capabilities


def test_run_job_puts_the_attempt_in_the_vm_metadata(gcp, emu):
    spec = spot()
    gcp.create(spec)
    gcp.run_job("sp1", job_for(spec), 2)
    assert job_attribute(emu) == {
        "run_id": "run-1", "restart": 2, "command": ["python3", "train.py", "--steps", "9"],
        "checkpoint_url": "gs://bucket/run-1", "status_url": "gs://bucket/run-1/_nbctl/run-1",
        "workdir_url": "gs://bucket/run-1/_nbctl/run-1/workdir.tar.gz", "git_url": None,
        "runtime_url": "gs://bucket/run-1/_nbctl/run-1/runtime.tar.gz",
        "runtime_sha256": RUNTIME_SHA256,
        "requirements": [f"fsspec=={version('fsspec')}", f"gcsfs=={version('gcsfs')}"]}
    # the laptop's path means nothing on the VM: only the archive of it travels, beside nbctl's
    # runtime (checked by its hash there) and the pinned packages a gs:// URL needs


def test_run_job_keeps_the_startup_script_and_ssh_keys(gcp, emu):
    spec = spot()
    gcp.create(spec)
    gcp.run_job("sp1", job_for(spec), 0)
    keys = {i["key"] for i in emu.compute.instances[("us-central1-a", "sp1")]["metadata"]["items"]}
    assert {"startup-script", "ssh-keys", "nbctl-job"} <= keys


def test_the_same_attempt_twice_writes_the_metadata_once(gcp, emu):
    spec = spot()
    gcp.create(spec)
    gcp.run_job("sp1", job_for(spec), 1)
    gcp.run_job("sp1", job_for(spec), 1)
    assert emu.counts[SET_METADATA] == 1


def test_the_next_attempt_replaces_the_previous_one(gcp, emu):
    spec = spot()
    gcp.create(spec)
    gcp.run_job("sp1", job_for(spec), 0)
    gcp.run_job("sp1", job_for(spec), 1)
    assert job_attribute(emu)["restart"] == 1


def test_a_job_on_a_workbench_notebook_asks_for_preemptible(gcp):
    gcp.create(notebook())
    with pytest.raises(CapabilityError, match="--preemptible"):
        gcp.run_job("nb1", job_for(notebook()), 0)


def test_cancel_job_removes_the_attempt_from_the_metadata(gcp, emu):
    spec = spot()
    gcp.create(spec)
    gcp.run_job("sp1", job_for(spec), 0)
    gcp.cancel_job("sp1", job_for(spec))
    assert job_attribute(emu) is None


def test_cancel_job_of_another_run_leaves_the_metadata_alone(gcp, emu):
    spec = spot()
    gcp.create(spec)
    gcp.run_job("sp1", job_for(spec), 0)
    gcp.cancel_job("sp1", replace(job_for(spec), run_id="run-other"))
    assert job_attribute(emu)["run_id"] == "run-1"
    assert emu.counts[SET_METADATA] == 1


def test_cancel_job_on_a_missing_instance_returns_silently(gcp, emu):
    gcp.cancel_job("nothing-here", job_for(spot()))
    assert emu.counts[SET_METADATA] == 0


def test_a_stockout_when_a_preempted_vm_starts_is_a_zone_capacity_error(gcp, emu):
    gcp.create(spot())
    wait_state(gcp, "sp1", State.RUNNING)
    emu.preempt("sp1", "us-central1-a")
    emu.inject("instances.start", "stockout", zone="us-central1-a")
    with pytest.raises(CapacityError) as info:
        gcp.start("sp1")
    assert info.value.scope is Scope.ZONE


def test_a_vm_made_again_after_a_delete_is_a_new_vm(gcp, emu):
    first = gcp.create(spot())
    gcp.delete("sp1")
    assert wait_state(gcp, "sp1", None) is None
    again = gcp.create(spot())  # the same name, spec and zone: the same first requestId
    assert again.native_id not in (None, first.native_id)
    assert wait_state(gcp, "sp1", State.RUNNING).state is State.RUNNING
