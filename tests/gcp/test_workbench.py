"""On-demand notebooks as Vertex AI Workbench instances, through notebooks_v2 over REST."""
from __future__ import annotations

import pytest
from nbctl_cloud.errors import CapabilityError, CapacityError, Scope
from nbctl_cloud.model import Schedule, State

from tests.gcp.helpers import notebook, wait_state

CREATE = "notebooks.projects.locations.instances.create"


def creates(emu):
    return [r for r in emu.requests if r["method"] == CREATE]


def test_workbench_instance_goes_from_provisioning_to_running_with_its_proxy_url(gcp):
    gcp.create(notebook())
    inst = wait_state(gcp, "nb1", State.RUNNING)
    assert inst.state is State.RUNNING and inst.backend == "workbench"
    assert inst.url.startswith("https://") and inst.url.endswith(".notebooks.googleusercontent.com")
    assert gcp.notebook_url("nb1") == inst.url


def test_create_request_has_catalog_machine_gpu_driver_idle_timeout_and_labels(gcp, emu):
    spec = notebook(idle_timeout=2700)
    gcp.create(spec)
    req = creates(emu)[0]
    assert req["query"]["instanceId"] == ["nb1"]
    setup = req["body"]["gceSetup"]
    assert setup["machineType"] == "n1-standard-4"
    assert len(setup["acceleratorConfigs"]) == 1 and setup["acceleratorConfigs"][0]["coreCount"] == "1"
    assert setup["gpuDriverConfig"]["enableGpuDriver"] is True
    assert setup["metadata"]["idle-timeout-seconds"] == "2700"
    assert req["body"]["labels"]["nbctl-spec-hash"] == spec.spec_hash()


def test_notebooks_is_spoken_over_rest_to_the_configured_endpoint(gcp, emu):
    gcp.create(notebook())
    assert emu.counts[CREATE] == 1
    assert emu.counts["notebooks.projects.locations.operations.get"] >= 1


def test_a_repeated_create_is_the_same_request_and_returns_the_first_instance(gcp, emu):
    first = gcp.create(notebook())
    again = gcp.create(notebook())  # a retried request: the same requestId
    assert again.name == "nb1" and again.native_id == first.native_id
    assert len({r["query"]["requestId"][0] for r in creates(emu)}) == 1
    assert len(emu.notebooks.instances) == 1


def test_up_of_an_existing_name_sends_no_second_create(gcp, emu):
    from nbctl_cloud import lifecycle
    from nbctl_cloud.store import Store

    lifecycle.up(gcp, notebook(), store=Store(), wait=False)
    again, created = lifecycle.up(gcp, notebook(), store=Store(), wait=False)
    assert again.name == "nb1" and not created
    assert emu.counts[CREATE] == 1


def test_stockout_in_the_create_operation_is_zone_capacity_and_leaves_nothing(gcp, emu):
    emu.inject("instances.create", "stockout", zone="us-central1-b")
    with pytest.raises(CapacityError) as info:
        gcp.create(notebook())
    assert info.value.scope is Scope.ZONE
    assert emu.notebooks.instances == {}


def test_unavailable_is_retried_to_success(gcp, emu):
    emu.inject("instances.create", "503")
    gcp.create(notebook())
    assert emu.counts[CREATE] == 2


def test_stop_start_and_delete(gcp):
    gcp.create(notebook())
    wait_state(gcp, "nb1", State.RUNNING)
    gcp.stop("nb1")
    assert wait_state(gcp, "nb1", State.STOPPED).state is State.STOPPED
    gcp.start("nb1")
    assert wait_state(gcp, "nb1", State.RUNNING).state is State.RUNNING
    gcp.delete("nb1")
    assert wait_state(gcp, "nb1", None) is None


def test_list_makes_one_call_per_location(gcp, emu):
    gcp.create(notebook(zones=("us-central1-b",)))
    gcp.create(notebook(name="nb2", zones=("us-central1-c",)))
    emu.counts.clear()
    found = gcp.list({"nbctl-owner": "tester"})
    assert sorted(i.name for i in found) == ["nb1", "nb2"]
    assert emu.counts["notebooks.projects.locations.instances.list"] == len(gcp._workbench_zones())
    assert emu.counts["notebooks.projects.locations.instances.get"] == 0


def test_set_idle_shutdown_patches_the_idle_timeout_metadata(gcp, emu):
    gcp.create(notebook())
    gcp.set_idle_shutdown("nb1", 5400)
    inst = next(iter(emu.notebooks.instances.values()))
    assert inst["gceSetup"]["metadata"]["idle-timeout-seconds"] == "5400"


def test_workbench_has_no_native_cron_so_set_schedule_raises_capability_error(gcp):
    gcp.create(notebook())
    assert gcp.native_schedule_for("workbench") is False
    with pytest.raises(CapabilityError):
        gcp.set_schedule("nb1", Schedule(tz="UTC", stop="0 19 * * *"))


def test_permission_denied_is_not_retried_and_names_the_permission(gcp, emu):
    from nbctl_cloud.errors import AuthError

    emu.inject("instances.create", "forbidden")
    with pytest.raises(AuthError) as info:
        gcp.create(notebook())
    assert "notebooks.instances.create" in info.value.message
    assert emu.counts[CREATE] == 1


def test_quota_in_the_create_operation_is_a_quota_error(gcp, emu):
    from nbctl_cloud.errors import QuotaError

    emu.inject("instances.create", "quota")
    with pytest.raises(QuotaError, match="NVIDIA_T4_GPUS"):
        gcp.create(notebook())
