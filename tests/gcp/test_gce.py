"""Spot notebooks as Compute Engine VMs, through compute_v1 against the emulator."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from nbctl_cloud.errors import (
    AuthError,
    CapacityError,
    QuotaError,
    Scope,
    TransientError,
)
from nbctl_cloud.model import State

from tests.gcp.helpers import spot, wait_state

INSERT = "compute.instances.insert"


def inserts(emu):
    return [r for r in emu.requests if r["method"] == INSERT]


def test_spot_vm_goes_from_provisioning_to_running(gcp):
    first = gcp.create(spot())
    assert first.state is State.PROVISIONING
    assert wait_state(gcp, "sp1", State.RUNNING).state is State.RUNNING


def test_spot_insert_carries_spot_scheduling(gcp, emu):
    gcp.create(spot())
    sched = inserts(emu)[0]["body"]["scheduling"]
    assert sched["provisioningModel"] == "SPOT"
    assert sched["instanceTerminationAction"] == "STOP"
    assert sched["onHostMaintenance"] == "TERMINATE"


def test_spot_insert_attaches_the_catalog_gpu_in_its_zone(gcp, emu):
    gcp.create(spot(zones=("us-central1-c",)))
    body = inserts(emu)[0]["body"]
    assert body["machineType"] == "zones/us-central1-c/machineTypes/n1-standard-4"
    assert body["guestAccelerators"] == [{"acceleratorCount": 1, "acceleratorType":
                                          "projects/test-project/zones/us-central1-c/acceleratorTypes/nvidia-tesla-t4"}]


def test_image_is_the_deep_learning_family_resolved_at_create(gcp, emu):
    gcp.create(spot())
    lookup = [r for r in emu.requests if r["method"] == "compute.images.getFromFamily"]
    assert lookup[0]["params"] == {"project": "deeplearning-platform-release", "family": "common-cu124"}
    disk = inserts(emu)[0]["body"]["disks"][0]
    assert disk["initializeParams"]["sourceImage"].endswith("/images/common-cu124-v20250601-debian-11-py310")


def test_image_family_is_configurable(emu):
    from nbctl_cloud.providers.gcp import GcpProvider

    provider = GcpProvider({"image_family": "pytorch-latest-gpu"}, owner="tester")
    provider.create(spot())
    lookup = [r for r in emu.requests if r["method"] == "compute.images.getFromFamily"]
    assert lookup[0]["params"]["family"] == "pytorch-latest-gpu"


def test_image_flag_overrides_the_family(gcp, emu):
    image = "projects/deeplearning-platform-release/global/images/common-cu124-v20250601-debian-11-py310"
    gcp.create(spot(image=image))
    assert emu.counts["compute.images.getFromFamily"] == 0
    assert inserts(emu)[0]["body"]["disks"][0]["initializeParams"]["sourceImage"] == image


def test_insert_carries_labels_startup_script_and_idle_timeout(gcp, emu):
    spec = spot(idle_timeout=2700)
    gcp.create(spec)
    body = inserts(emu)[0]["body"]
    assert body["labels"]["nbctl-name"] == "sp1"
    assert body["labels"]["nbctl-owner"] == "tester"
    assert body["labels"]["nbctl-spec-hash"] == spec.spec_hash()
    items = {i["key"]: i["value"] for i in body["metadata"]["items"]}
    assert items["startup-script"].startswith("#!")
    assert items["idle-timeout-seconds"] == "2700"


def test_a_repeated_create_is_the_same_insert_and_returns_the_first_vm(gcp, emu):
    a = gcp.create(spot())
    b = gcp.create(spot())  # a retried request: the same requestId
    assert b.native_id == a.native_id
    assert len({r["query"]["requestId"][0] for r in inserts(emu)}) == 1
    assert len(emu.compute.instances) == 1


def test_up_of_an_existing_name_sends_no_second_insert(gcp, emu):
    from nbctl_cloud import lifecycle
    from nbctl_cloud.store import Store

    a, created = lifecycle.up(gcp, spot(), store=Store(), wait=False)
    b, again = lifecycle.up(gcp, spot(), store=Store(), wait=False)
    assert created and not again and b.native_id == a.native_id
    assert emu.counts[INSERT] == 1


def test_insert_answer_lost_is_retried_with_the_same_request_id_and_makes_one_vm(gcp, emu):
    emu.inject("instances.insert", "lost-response")
    inst = gcp.create(spot())
    sent = inserts(emu)
    assert len(sent) == 2
    assert sent[0]["query"]["requestId"] == sent[1]["query"]["requestId"]
    assert [n for (_, n) in emu.compute.instances] == ["sp1"]
    assert inst.state in (State.PROVISIONING, State.RUNNING)


def test_a_new_process_after_a_kill_resends_the_same_request_id(emu):
    from nbctl_cloud.providers.gcp import GcpProvider
    from nbctl_cloud.providers.gcp.common import request_id

    spec = spot()
    emu.inject("instances.insert", "lost-response", count=6)  # the first process gives up
    with pytest.raises(TransientError):
        GcpProvider({}, owner="tester").create(spec)
    # the VM exists already; a second process finds it instead of inserting again
    again = GcpProvider({}, owner="tester").create(spec)
    assert again.name == "sp1"
    assert {r["query"]["requestId"][0] for r in inserts(emu)} == {request_id(spec, "us-central1-a")}
    assert len(emu.compute.instances) == 1


def test_stockout_raises_zone_capacity_error_and_leaves_nothing(gcp, emu):
    emu.inject("instances.insert", "stockout", zone="us-central1-a")
    with pytest.raises(CapacityError) as info:
        gcp.create(spot())
    assert info.value.scope is Scope.ZONE
    assert emu.compute.instances == {}
    assert gcp.get("sp1") is None


def test_stockout_in_one_zone_does_not_block_the_next(gcp, emu):
    emu.inject("instances.insert", "stockout", zone="us-central1-a")
    with pytest.raises(CapacityError):
        gcp.create(spot(zones=("us-central1-a",)))
    inst = gcp.create(spot(zones=("us-central1-b",)))
    assert inst.zone == "us-central1-b"


def test_gpus_all_regions_quota_is_a_global_quota_error(gcp, emu):
    emu.inject("instances.insert", "quota-global")
    with pytest.raises(QuotaError) as info:
        gcp.create(spot())
    assert info.value.scope is Scope.GLOBAL


@pytest.mark.parametrize("fault", ["rate-limit", "user-rate-limit", "503"])
def test_compute_throttling_as_403_rate_limit_and_unavailability_are_retried(gcp, emu, fault):
    emu.inject("instances.insert", fault, count=2)
    inst = gcp.create(spot())
    assert inst.name == "sp1"
    assert emu.counts[INSERT] == 3


def test_insert_refused_at_once_with_403_quota_exceeded_is_a_regional_quota_error(gcp, emu):
    emu.inject("instances.insert", "quota-now")
    with pytest.raises(QuotaError) as info:
        gcp.create(spot())
    assert info.value.scope is Scope.REGION
    assert "NVIDIA_T4_GPUS" in info.value.message and "raise the quota" in str(info.value)
    assert emu.counts[INSERT] == 1 and emu.compute.instances == {}


def test_a_stockout_with_details_is_zone_capacity_and_leaves_nothing(gcp, emu):
    emu.inject("instances.insert", "stockout-details", zone="us-central1-a")
    with pytest.raises(CapacityError) as info:
        gcp.create(spot())
    assert info.value.scope is Scope.ZONE
    assert info.value.code == "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS"
    assert emu.compute.instances == {}


def test_permission_denied_is_not_retried_and_names_the_permission(gcp, emu):
    emu.inject("instances.insert", "forbidden")
    with pytest.raises(AuthError) as info:
        gcp.create(spot())
    assert "compute.instances.create" in info.value.message
    assert emu.counts[INSERT] == 1


def test_stop_then_start(gcp):
    gcp.create(spot())
    wait_state(gcp, "sp1", State.RUNNING)
    gcp.stop("sp1")
    assert wait_state(gcp, "sp1", State.STOPPED).state is State.STOPPED
    gcp.start("sp1")
    assert wait_state(gcp, "sp1", State.RUNNING).state is State.RUNNING


def test_stop_of_a_stopped_vm_sends_no_stop(gcp, emu):
    gcp.create(spot())
    wait_state(gcp, "sp1", State.RUNNING)
    gcp.stop("sp1")
    wait_state(gcp, "sp1", State.STOPPED)
    gcp.stop("sp1")
    assert emu.counts["compute.instances.stop"] == 1


def test_delete_removes_the_vm(gcp):
    gcp.create(spot())
    gcp.delete("sp1")
    assert wait_state(gcp, "sp1", None) is None


def test_delete_of_a_missing_instance_returns_silently(gcp, emu):
    gcp.delete("never-made")
    assert emu.counts["compute.instances.delete"] == 0


def test_list_makes_one_call_for_every_zone_and_filters_by_owner(gcp, emu):
    for i in range(30):
        emu.add_instance(f"vm{i}", ("us-central1-a", "us-east1-c", "europe-west4-a")[i % 3],
                         labels={"nbctl-name": f"vm{i}", "nbctl-owner": "tester"})
    emu.add_instance("theirs", "us-central1-a", labels={"nbctl-name": "theirs", "nbctl-owner": "bob"})
    found = gcp.list({"nbctl-owner": "tester"})
    assert sorted(i.name for i in found) == sorted(f"vm{i}" for i in range(30))
    assert emu.counts["compute.instances.aggregatedList"] == 1
    assert emu.counts["compute.instances.get"] == 0
    assert emu.counts["compute.instances.list"] == 0


def test_a_fresh_process_finds_the_instance_where_it_was_made(gcp, emu):
    from nbctl_cloud.providers.gcp import GcpProvider

    gcp.create(spot(zones=("us-east1-c",)))
    other = GcpProvider({}, owner="tester")
    assert other.get("sp1").zone == "us-east1-c"


def test_preemption_is_found_in_the_cloud_record_and_get_says_preempted(gcp, emu):
    since = datetime.now(timezone.utc) - timedelta(seconds=5)
    gcp.create(spot())
    wait_state(gcp, "sp1", State.RUNNING)
    emu.preempt("sp1", "us-central1-a")
    found = gcp.preemptions(since)
    assert [(p.name, p.zone, p.source) for p in found] == [("sp1", "us-central1-a",
                                                           "compute.instances.preempted")]
    assert gcp.get("sp1").state is State.PREEMPTED


def test_preemptions_ask_each_zone_in_use_once(gcp, emu):
    for i, zone in enumerate(["us-central1-a", "us-central1-a", "us-east1-c"]):
        emu.add_instance(f"vm{i}", zone, labels={"nbctl-name": f"vm{i}", "nbctl-owner": "tester"})
    emu.preempt("vm2", "us-east1-c")
    found = gcp.preemptions(datetime.now(timezone.utc) - timedelta(minutes=1))
    assert [p.name for p in found] == ["vm2"]
    assert emu.counts["compute.zoneOperations.list"] == 2


def test_preemptions_before_since_are_left_out(gcp, emu):
    emu.add_instance("vm0", "us-central1-a", labels={"nbctl-name": "vm0", "nbctl-owner": "tester"})
    emu.preempt("vm0", "us-central1-a")
    assert gcp.preemptions(datetime.now(timezone.utc) + timedelta(minutes=1)) == []


def test_a_stopped_spot_vm_without_a_preemption_record_is_stopped(gcp):
    gcp.create(spot())
    wait_state(gcp, "sp1", State.RUNNING)
    gcp.stop("sp1")
    assert wait_state(gcp, "sp1", State.STOPPED).state is State.STOPPED


def test_notebook_of_a_spot_vm_is_reached_by_ssh_with_the_instance_key(gcp, emu):
    from nbctl_cloud.tunnel import SshRoute
    gcp.create(spot())
    wait_state(gcp, "sp1", State.RUNNING)
    route = gcp.notebook_url("sp1")
    assert isinstance(route, SshRoute)
    assert (route.host, route.user, route.port) == ("203.0.113.10", "nbctl-admin", 22)
    items = {i["key"]: i["value"] for i in
             emu.compute.instances[("us-central1-a", "sp1")]["metadata"]["items"]}
    assert items["ssh-keys"] == "nbctl-admin:" + route.key_path.with_suffix(".pub").read_text().strip()
    assert route.key_path.stat().st_mode & 0o077 == 0
    assert gcp.get("sp1").url is None


def test_set_idle_shutdown_rewrites_the_vm_metadata(gcp, emu):
    gcp.create(spot(idle_timeout=600))
    gcp.set_idle_shutdown("sp1", 3600)
    inst = emu.compute.instances[("us-central1-a", "sp1")]
    items = {i["key"]: i["value"] for i in inst["metadata"]["items"]}
    assert items["idle-timeout-seconds"] == "3600"
    # the agent reads it at boot, so a VM that is up is told so rather than left to guess
    assert any("next start" in w for w in gcp.warnings)


def test_set_idle_shutdown_of_a_stopped_vm_needs_no_note(gcp, emu):
    gcp.create(spot(idle_timeout=600))
    wait_state(gcp, "sp1", State.RUNNING)
    gcp.stop("sp1")
    wait_state(gcp, "sp1", State.STOPPED)
    gcp.set_idle_shutdown("sp1", 3600)
    assert gcp.warnings == []


def test_a_preemption_before_the_last_start_does_not_mark_a_later_stop_preempted(gcp, emu):
    gcp.create(spot())
    wait_state(gcp, "sp1", State.RUNNING)
    emu.preempt("sp1", "us-central1-a")
    assert gcp.get("sp1").state is State.PREEMPTED
    gcp.start("sp1")
    wait_state(gcp, "sp1", State.RUNNING)
    gcp.stop("sp1")
    assert wait_state(gcp, "sp1", State.STOPPED).state is State.STOPPED


def test_set_idle_shutdown_removes_a_token_an_older_version_left_in_metadata(gcp, emu):
    gcp.create(spot())
    inst = emu.compute.instances[("us-central1-a", "sp1")]
    inst["metadata"]["items"].append({"key": "nbctl-jupyter-token", "value": "old-secret"})
    gcp.set_idle_shutdown("sp1", 3600)
    items = {i["key"]: i["value"] for i in
             emu.compute.instances[("us-central1-a", "sp1")]["metadata"]["items"]}
    assert "nbctl-jupyter-token" not in items and "ssh-keys" in items
