"""SageMaker's rules, through boto3 against the emulator: capacity runs out after the create
(Pending, then Failed), and the notebook types are those of botocore's own model."""
from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from nbctl_cloud import lifecycle
from nbctl_cloud.errors import CapacityError
from nbctl_cloud.model import InstanceSpec, State
from nbctl_cloud.store import Store

from tests.aws.conftest import ROLE
from tests.aws.specs import wait_state


def _spec(zones, **kw):
    return InstanceSpec(name="nb", provider="aws", gpu="t4", gpu_count=1, zones=zones,
                        owner="tester", **kw)


def _leftovers(emu, region):
    backend = emu.sagemaker_backend(region)
    return list(backend.notebook_instances), list(backend.notebook_instance_lifecycle_configurations)


def test_sagemaker_accepts_a_notebook_then_fails_it_for_capacity(aws, emu):
    emu.no_notebook_capacity("ml.g4dn.xlarge", "us-east-1")
    sm = boto3.client("sagemaker", region_name="us-east-1")
    sm.create_notebook_instance(NotebookInstanceName="nb", InstanceType="ml.g4dn.xlarge",
                                RoleArn=ROLE)  # accepted: capacity is not checked here
    failed = wait_state(aws, "nb", State.FAILED)
    assert failed.detail.startswith("Insufficient notebook instance capacity")


def test_up_moves_to_the_next_region_when_sagemaker_fails_a_notebook_for_capacity(aws, emu):
    emu.no_notebook_capacity("ml.g4dn.xlarge", "us-east-1")
    store = Store()
    spec = _spec(("us-east-1a", "us-west-2a"), idle_timeout=1800)  # it makes a config too
    inst, created = lifecycle.up(aws, spec, store=store, timeout=30)
    assert created and inst.state is State.RUNNING and inst.zone == "us-west-2"
    assert _leftovers(emu, "us-east-1") == ([], [])  # the failed notebook and its config
    assert emu.count("CreateNotebookInstance") == 2


def test_up_with_no_sagemaker_capacity_anywhere_is_a_capacity_error_leaving_nothing(aws, emu):
    emu.no_notebook_capacity("ml.g4dn.xlarge")
    store = Store()
    with pytest.raises(CapacityError, match="Insufficient notebook instance capacity"):
        lifecycle.up(aws, _spec(("us-east-1a", "us-west-2a")), store=store, timeout=30)
    assert _leftovers(emu, "us-east-1") == ([], []) == _leftovers(emu, "us-west-2")
    assert store.get("nb") is None


@pytest.mark.parametrize("instance_type", ["ml.g4dn.24xlarge", "ml.g4dn.48xlarge"])
def test_sagemaker_refuses_a_notebook_type_that_does_not_exist(emu, instance_type):
    sm = boto3.client("sagemaker", region_name="us-east-1")
    with pytest.raises(ClientError) as info:
        sm.create_notebook_instance(NotebookInstanceName="nb", InstanceType=instance_type,
                                    RoleArn=ROLE)
    err = info.value.response["Error"]
    assert err["Code"] == "ValidationException"
    assert err["Message"].startswith(
        f"1 validation error detected: Value '{instance_type}' at 'instanceType' failed to "
        f"satisfy constraint: Member must satisfy enum value set: [")


def test_every_sagemaker_type_of_the_catalog_is_in_botocores_model():
    import botocore.session
    from nbctl_cloud.catalog import load_catalog

    model = botocore.session.get_session().get_service_model("sagemaker")
    known = set(model.shape_for("InstanceType").enum)
    offered = {o.instance_type for o in load_catalog().offers(provider="aws", backend="sagemaker")}
    assert offered and offered <= known


def test_up_that_stops_waiting_before_the_notebook_runs_still_sets_its_schedule(
        aws, emu, monkeypatch):
    from nbctl_cloud.errors import NbctlError
    from nbctl_cloud.model import Schedule

    from tests.emulators.aws import moto_ext
    monkeypatch.setattr(moto_ext.DELAYS, "provision", 3600.0)  # Pending throughout the test
    spec = _spec(("us-east-1a",), schedule=Schedule(tz="UTC", stop="0 19 * * *"))
    with pytest.raises(NbctlError, match="timed out"):
        lifecycle.up(aws, spec, store=Store(), timeout=0)
    listed = boto3.client("scheduler", region_name="us-east-1").list_schedules(
        GroupName="nbctl-tester")["Schedules"]
    assert [s["Name"] for s in listed] == ["nb-stop"]
    assert list(emu.sagemaker_backend().notebook_instances) == ["nb"]  # left to come up
