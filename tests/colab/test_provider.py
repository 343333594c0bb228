"""The colab provider against the fake, in process: the idle timeout's rounding, templates
found again and deleted only when unused, failover on a regional quota, and what a failed
create leaves (nothing)."""
from __future__ import annotations

import pytest
from google.cloud import aiplatform_v1 as ap
from nbctl_cloud import lifecycle
from nbctl_cloud.errors import AuthError, CapabilityError, CapacityError, UserError
from nbctl_cloud.model import Capability, InstanceSpec, State
from nbctl_cloud.providers.colab import ColabProvider, idle_minutes
from nbctl_cloud.store import Store

from tests.colab.helpers import wait_state

PARENT = "projects/test-project/locations"


@pytest.fixture
def store(tmp_path):
    s = Store(f"sqlite:///{tmp_path / 'state.db'}")
    yield s
    s.engine.dispose()


@pytest.fixture(autouse=True)
def fast_polls(monkeypatch):
    monkeypatch.setenv("NBCTL_POLL_INTERVAL", "0.05")


@pytest.mark.parametrize("seconds, minutes, noted", [
    (3600, 60, False), (600, 10, False), (86400, 1440, False),
    (45, 10, True), (599, 10, True), (90 * 60 + 1, 91, True), (2 * 86400, 1440, True),
])
def test_an_idle_timeout_becomes_whole_minutes_from_10_to_1440(seconds, minutes, noted):
    got, note = idle_minutes(seconds)
    assert got == minutes and bool(note) is noted
    if note:
        assert f"{minutes} min" in note


def test_the_rounded_idle_timeout_is_noted_and_sent(colab, emu, make_spec):
    colab.create(make_spec(idle_timeout=45))
    (tpl,) = emu.service.templates.values()
    assert tpl["idleShutdownConfig"] == {"idleTimeout": "600s"}
    assert any("10 min" in w for w in colab.warnings)


def test_a_second_create_finds_the_template_and_the_runtime(colab, emu, make_spec):
    spec = make_spec()
    colab.create(spec)
    colab.create(spec)
    assert len(emu.service.templates) == 1 and len(emu.service.runtimes) == 1
    assert emu.counts["CreateNotebookRuntimeTemplate"] == 1


def test_delete_keeps_a_template_another_runtime_uses(colab, emu, make_spec, client):
    colab.create(make_spec())
    (template,) = emu.service.templates
    other = client.assign_notebook_runtime(
        parent=f"{PARENT}/us-central1", notebook_runtime_template=template,
        notebook_runtime=ap.NotebookRuntime(runtime_user="someone@example.com",
                                            display_name="other")).result(timeout=30)
    colab.delete("nb1")
    assert list(emu.service.runtimes) == [other.name]
    assert list(emu.service.templates) == [template]


def test_delete_of_a_template_left_without_its_runtime(colab, emu, make_spec, client):
    colab.create(make_spec())
    client.delete_notebook_runtime(name=f"{PARENT}/us-central1/notebookRuntimes/nb1").result(
        timeout=30)
    colab.delete("nb1")
    assert emu.service.templates == {} and emu.service.runtimes == {}


@pytest.mark.parametrize("fault", ["quota", "quota-now", "stockout-now"])
def test_up_moves_on_from_a_region_without_capacity_or_quota(colab, emu, store, fault):
    emu.inject("AssignNotebookRuntime", fault, location="us-central1")
    spec = InstanceSpec(name="nb2", provider="colab", gpu="t4", gpu_count=1, owner="tester",
                        zones=("us-central1", "us-east4"))
    inst, created = lifecycle.up(colab, spec, store=store, timeout=60)
    assert created and inst.state is State.RUNNING and inst.zone == "us-east4"
    assert [n.split("/")[3] for n in emu.service.templates] == ["us-east4"]
    assert list(emu.service.runtimes) == [f"{PARENT}/us-east4/notebookRuntimes/nb2"]


def test_no_capacity_anywhere_leaves_nothing_and_says_where_it_tried(colab, emu, store):
    emu.inject("AssignNotebookRuntime", "stockout", count=2)
    spec = InstanceSpec(name="nb3", provider="colab", gpu="t4", gpu_count=1, owner="tester",
                        zones=("us-central1", "us-east4"))
    with pytest.raises(CapacityError) as err:
        lifecycle.up(colab, spec, store=store, timeout=60)
    assert "us-central1" in err.value.message and "us-east4" in err.value.message
    assert emu.service.templates == {} and emu.service.runtimes == {}
    assert store.get("nb3") is None


def test_a_refused_assign_is_an_auth_error_and_deletes_the_template_made_for_it(
        colab, emu, make_spec):
    emu.inject("AssignNotebookRuntime", "forbidden")
    with pytest.raises(AuthError, match="Permission 'aiplatform"):
        colab.create(make_spec())
    assert emu.service.templates == {} and emu.service.runtimes == {}


def test_a_start_without_capacity_is_capacity(colab, emu, make_spec, client):
    colab.create(make_spec())
    runtime = f"{PARENT}/us-central1/notebookRuntimes/nb1"
    wait_state(client, runtime, "RUNNING")
    colab.stop("nb1")
    wait_state(client, runtime, "STOPPED")
    emu.inject("StartNotebookRuntime", "stockout")
    with pytest.raises(CapacityError):
        colab.start("nb1")


def test_stop_and_start_of_a_settled_runtime_are_no_ops(colab, emu, make_spec, client):
    colab.create(make_spec())
    wait_state(client, f"{PARENT}/us-central1/notebookRuntimes/nb1", "RUNNING")
    colab.start("nb1")
    assert emu.counts["StartNotebookRuntime"] == 0


def test_refusals_need_no_network(make_spec):
    provider = ColabProvider({}, owner="tester")
    with pytest.raises(CapabilityError, match="no spot"):
        provider.require(Capability.SPOT)
    with pytest.raises(CapabilityError, match="no nbctl jobs"):
        provider.require(Capability.JOBS)
    with pytest.raises(UserError, match="drop --image"):
        provider.validate_spec(make_spec(image="my-image"))
    with pytest.raises(UserError, match="use us-central1 instead of us-central1-a"):
        provider.validate_spec(make_spec(zones=("us-central1-a",)))
    with pytest.raises(UserError, match="needs a GPU"):
        provider.validate_spec(make_spec(gpu="none", gpu_count=0))
    assert provider.offers("t4", 1, spot=True) == []


def test_no_runtime_user_is_bad_input_naming_the_setting(emu, make_spec):
    provider = ColabProvider({}, owner="tester")
    with pytest.raises(UserError, match="runtime_user"):
        provider.create(make_spec())
    assert emu.service.templates == {}
