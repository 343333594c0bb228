"""Cron schedules of spot VMs as instance-schedule resource policies."""
from __future__ import annotations

from nbctl_cloud.model import Schedule
from nbctl_cloud.providers.gcp.policies import policy_name

from tests.gcp.helpers import spot

WEEKDAYS = Schedule(tz="Europe/Berlin", stop="0 19 * * 1-5", start="0 8 * * 1-5")


def policies(emu):
    return sorted(emu.compute.policies)


def attached(emu, name, zone="us-central1-a"):
    return emu.compute.instances[(zone, name)].get("resourcePolicies", [])


def test_schedule_becomes_an_instance_schedule_policy_in_the_vm_region(gcp, emu):
    gcp.create(spot())
    gcp.set_schedule("sp1", WEEKDAYS)
    sent = [r for r in emu.requests if r["method"] == "compute.resourcePolicies.insert"][0]
    assert sent["params"]["region"] == "us-central1"
    body = sent["body"]["instanceSchedulePolicy"]
    assert body == {"timeZone": "Europe/Berlin", "vmStopSchedule": {"schedule": "0 19 * * 1-5"},
                    "vmStartSchedule": {"schedule": "0 8 * * 1-5"}}
    assert attached(emu, "sp1")[0].endswith(f"/resourcePolicies/{policy_name(WEEKDAYS)}")


def test_identical_schedules_share_one_policy(gcp, emu):
    gcp.create(spot("sp1"))
    gcp.create(spot("sp2"))
    gcp.set_schedule("sp1", WEEKDAYS)
    gcp.set_schedule("sp2", WEEKDAYS)
    assert emu.counts["compute.resourcePolicies.insert"] == 1
    assert policies(emu) == [("us-central1", policy_name(WEEKDAYS))]
    assert attached(emu, "sp1") == attached(emu, "sp2")


def test_policy_stays_while_an_instance_uses_it_and_goes_with_the_last(gcp, emu):
    gcp.create(spot("sp1"))
    gcp.create(spot("sp2"))
    gcp.set_schedule("sp1", WEEKDAYS)
    gcp.set_schedule("sp2", WEEKDAYS)
    gcp.delete("sp1")
    assert policies(emu) == [("us-central1", policy_name(WEEKDAYS))]
    gcp.delete("sp2")
    assert policies(emu) == []


def test_clear_schedule_detaches_and_deletes_an_unused_policy(gcp, emu):
    gcp.create(spot())
    gcp.set_schedule("sp1", WEEKDAYS)
    gcp.clear_schedule("sp1")
    assert attached(emu, "sp1") == []
    assert policies(emu) == []


def test_clear_schedule_without_one_is_a_no_op(gcp, emu):
    gcp.create(spot())
    gcp.clear_schedule("sp1")
    assert emu.counts["compute.instances.removeResourcePolicies"] == 0


def test_a_new_schedule_replaces_the_old_one(gcp, emu):
    gcp.create(spot())
    gcp.set_schedule("sp1", WEEKDAYS)
    later = Schedule(tz="UTC", stop="0 22 * * *")
    gcp.set_schedule("sp1", later)
    assert [u.rsplit("/", 1)[-1] for u in attached(emu, "sp1")] == [policy_name(later)]
    assert policies(emu) == [("us-central1", policy_name(later))]


def test_setting_the_same_schedule_twice_changes_nothing(gcp, emu):
    gcp.create(spot())
    gcp.set_schedule("sp1", WEEKDAYS)
    gcp.set_schedule("sp1", WEEKDAYS)
    assert emu.counts["compute.instances.addResourcePolicies"] == 1
