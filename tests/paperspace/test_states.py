"""Each Paperspace machine state maps to one normalized state (table in providers/paperspace/states.py)."""
import pytest
from nbctl_cloud.model import State
from nbctl_cloud.providers.paperspace.states import MACHINE_STATES, machine_state

# The Machine `state` enum of the API v1 OpenAPI (https://api.paperspace.com/v1/openapi.json).
DOCUMENTED = ("off", "starting", "stopping", "restarting", "serviceready", "ready", "upgrading",
              "provisioning")


@pytest.mark.parametrize("native,expected", [
    ("provisioning", State.PROVISIONING),
    ("starting", State.PROVISIONING),
    ("serviceready", State.PROVISIONING),
    ("ready", State.RUNNING),
    ("restarting", State.PROVISIONING),
    ("upgrading", State.PROVISIONING),
    ("stopping", State.STOPPING),
    ("off", State.STOPPED),
])
def test_documented_state_maps_to(native, expected):
    assert machine_state(native) is expected


def test_table_covers_exactly_the_documented_states():
    assert sorted(MACHINE_STATES) == sorted(DOCUMENTED)


def test_unknown_state_is_pending_not_an_error():
    assert machine_state("hibernating") is State.PENDING


def test_machine_with_dt_deleted_is_deleting_whatever_its_state():
    assert machine_state("ready", deleted=True) is State.DELETING


def test_a_machine_whose_create_event_failed_is_failed_whatever_its_state():
    assert machine_state("provisioning", failed=True) is State.FAILED


def test_no_state_is_preempted_since_paperspace_has_no_spot():
    assert State.PREEMPTED not in MACHINE_STATES.values()
