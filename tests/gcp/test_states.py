"""Native GCP states -> nbctl State, one row per native state of each backend."""
from __future__ import annotations

import pytest
from nbctl_cloud.model import State
from nbctl_cloud.providers.gcp.states import (
    GCE_STATES,
    WORKBENCH_STATES,
    gce_state,
    workbench_state,
)


@pytest.mark.parametrize("native, want", [
    ("PROVISIONING", State.PROVISIONING),
    ("STAGING", State.PROVISIONING),
    ("RUNNING", State.RUNNING),
    ("STOPPING", State.STOPPING),
    ("SUSPENDING", State.STOPPING),
    ("SUSPENDED", State.STOPPED),
    ("TERMINATED", State.STOPPED),
    ("REPAIRING", State.PROVISIONING),
])
def test_gce_state_row(native, want):
    assert gce_state(native) is want


def test_gce_terminated_with_a_preemption_record_is_preempted():
    assert gce_state("TERMINATED", preempted=True) is State.PREEMPTED


def test_gce_running_stays_running_even_with_an_old_preemption_record():
    assert gce_state("RUNNING", preempted=True) is State.RUNNING


def test_gce_table_has_no_untested_rows():
    assert set(GCE_STATES) == {"PROVISIONING", "STAGING", "RUNNING", "STOPPING", "SUSPENDING",
                               "SUSPENDED", "TERMINATED", "REPAIRING"}


@pytest.mark.parametrize("native, want", [
    ("STATE_UNSPECIFIED", State.PENDING),
    ("STARTING", State.PROVISIONING),
    ("PROVISIONING", State.PROVISIONING),
    ("INITIALIZING", State.PROVISIONING),
    ("ACTIVE", State.RUNNING),
    ("UPGRADING", State.PROVISIONING),
    ("STOPPING", State.STOPPING),
    ("STOPPED", State.STOPPED),
    ("SUSPENDING", State.STOPPING),
    ("SUSPENDED", State.STOPPED),
    ("DELETED", State.DELETED),
    ("ORPHANED", State.FAILED),
])
def test_workbench_state_row(native, want):
    assert workbench_state(native) is want


def test_workbench_table_covers_every_state_of_the_sdk_enum():
    from google.cloud import notebooks_v2

    assert {s.name for s in notebooks_v2.State} <= set(WORKBENCH_STATES)


def test_unknown_native_states_read_as_pending():
    assert gce_state("SOMETHING_NEW") is State.PENDING
    assert workbench_state("SOMETHING_NEW") is State.PENDING
