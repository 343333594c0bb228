"""The Colab Enterprise fake, driven through aiplatform_v1's own REST client: templates,
runtimes with asynchronous states, long-running operations, idle shutdown, capacity errors."""
from __future__ import annotations

import time

import pytest
from google.api_core import exceptions
from google.cloud import aiplatform_v1 as ap

from tests.colab.helpers import PARENT, assign, running, state, template, wait_state

RS = ap.NotebookRuntime.RuntimeState


def test_a_template_keeps_its_machine_gpu_and_idle_shutdown(client):
    tpl = template(client, idle_minutes=60)
    got = client.get_notebook_runtime_template(name=tpl.name)
    assert got.name == f"{PARENT}/notebookRuntimeTemplates/tpl-t4"
    assert got.machine_spec.machine_type == "n1-standard-4"
    assert got.machine_spec.accelerator_type == ap.AcceleratorType.NVIDIA_TESLA_T4
    assert got.machine_spec.accelerator_count == 1
    assert got.idle_shutdown_config.idle_timeout.total_seconds() == 3600
    assert got.notebook_runtime_type == ap.NotebookRuntimeType.USER_DEFINED


def test_an_assigned_runtime_is_being_started_then_running(client, emu):
    tpl = template(client, idle_minutes=None)
    runtime = assign(client, tpl).result(timeout=30)
    assert runtime.runtime_state in (RS.BEING_STARTED, RS.RUNNING)
    wait_state(client, runtime.name, "RUNNING")
    got = client.get_notebook_runtime(name=runtime.name)
    assert got.notebook_runtime_template_ref.notebook_runtime_template == tpl.name
    assert got.machine_spec.accelerator_type == ap.AcceleratorType.NVIDIA_TESLA_T4
    assert got.health_state == ap.NotebookRuntime.HealthState.HEALTHY
    assert got.proxy_uri.startswith("https://")
    # the operations were polled on the configured endpoint, not the public one
    assert emu.counts["GetOperation"] >= 2


def test_assigning_the_same_runtime_id_again_returns_the_same_runtime(client):
    runtime = running(client)
    again = assign(client, client.get_notebook_runtime_template(
        name=runtime.notebook_runtime_template_ref.notebook_runtime_template)).result(timeout=30)
    assert again.name == runtime.name
    assert len(list(client.list_notebook_runtimes(parent=PARENT))) == 1


def test_a_stopped_runtime_starts_again(client):
    runtime = running(client, idle_minutes=None)
    client.stop_notebook_runtime(name=runtime.name).result(timeout=30)
    assert state(client, runtime.name) in (RS.BEING_STOPPED, RS.STOPPED)
    wait_state(client, runtime.name, "STOPPED")
    client.start_notebook_runtime(name=runtime.name).result(timeout=30)
    assert state(client, runtime.name) in (RS.BEING_STARTED, RS.RUNNING)
    wait_state(client, runtime.name, "RUNNING")


def test_starting_a_running_runtime_is_a_failed_precondition(client):
    runtime = running(client, idle_minutes=None)
    # Over REST the exception class follows the HTTP code (400: BadRequest); the status
    # names the reason.
    with pytest.raises(exceptions.BadRequest) as err:
        client.start_notebook_runtime(name=runtime.name)
    assert err.value.response.json()["error"]["status"] == "FAILED_PRECONDITION"


def test_an_idle_runtime_is_stopped_after_its_scaled_timeout(client, emu):
    tpl = template(client, idle_minutes=10)  # 10 minutes: 0.5 s at the tests' scale
    runtime = assign(client, tpl).result(timeout=30)
    wait_state(client, runtime.name, "STOPPED")
    assert emu.service.idle_stops == [runtime.name]


def test_a_busy_runtime_is_not_stopped_while_busy(client, emu):
    tpl = template(client, idle_minutes=10)
    op = assign(client, tpl)
    runtime = f"{PARENT}/notebookRuntimes/nb1"
    emu.busy(runtime)  # busy from before it runs: no idle window at all
    op.result(timeout=30)
    wait_state(client, runtime, "RUNNING")
    time.sleep(1.5)  # three idle timeouts at the tests' scale
    assert state(client, runtime) == RS.RUNNING
    emu.busy(runtime, False)
    wait_state(client, runtime, "STOPPED")
    assert emu.service.idle_stops == [runtime]


def test_without_idle_shutdown_a_runtime_keeps_running(client, emu):
    runtime = running(client, idle_minutes=None)
    time.sleep(1.0)
    assert state(client, runtime.name) == RS.RUNNING
    assert emu.service.idle_stops == []


def test_deleting_the_runtime_then_the_template_leaves_nothing(client):
    runtime = running(client)
    client.delete_notebook_runtime(name=runtime.name).result(timeout=30)
    with pytest.raises(exceptions.NotFound):
        client.get_notebook_runtime(name=runtime.name)
    tpl = runtime.notebook_runtime_template_ref.notebook_runtime_template
    client.delete_notebook_runtime_template(name=tpl).result(timeout=30)
    assert list(client.list_notebook_runtimes(parent=PARENT)) == []
    assert list(client.list_notebook_runtime_templates(parent=PARENT)) == []


def test_lists_filter_by_label_template_and_state(client):
    runtime = running(client, idle_minutes=None)
    runtimes = client.list_notebook_runtimes(request={
        "parent": PARENT, "filter": 'labels.nbctl-name="nb1" AND notebookRuntimeTemplate=tpl-t4'})
    assert [r.name for r in runtimes] == [runtime.name]
    stopped = client.list_notebook_runtimes(request={"parent": PARENT,
                                                     "filter": "runtimeState=STOPPED"})
    assert list(stopped) == []
    templates = client.list_notebook_runtime_templates(request={
        "parent": PARENT, "filter": 'labels.nbctl-owner="tester"'})
    assert [t.display_name for t in templates] == ["tpl-t4"]


def test_a_stockout_ends_the_operation_with_resource_exhausted_and_leaves_nothing(client, emu):
    emu.inject("AssignNotebookRuntime", "stockout", location="us-central1")
    tpl = template(client)
    with pytest.raises(exceptions.ResourceExhausted) as err:
        assign(client, tpl).result(timeout=30)
    assert err.value.grpc_status_code.name == "RESOURCE_EXHAUSTED"
    assert "Resources are insufficient in region: us-central1" in err.value.message
    assert list(client.list_notebook_runtimes(parent=PARENT)) == []
    # the next region has capacity
    other = "projects/test-project/locations/us-east4"
    tpl2 = template(client, parent=other)
    assert assign(client, tpl2, parent=other).result(timeout=30).name.startswith(other)


def test_a_quota_refusal_at_once_is_a_429_with_its_quota_failure(client, emu):
    emu.inject("AssignNotebookRuntime", "quota-now")
    tpl = template(client)
    # Refused at once, the class follows the HTTP code (429: TooManyRequests, of which an
    # operation's ResourceExhausted is a subclass); the status says RESOURCE_EXHAUSTED.
    with pytest.raises(exceptions.TooManyRequests) as err:
        assign(client, tpl)
    assert err.value.code == 429
    assert err.value.response.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert "Quota 'NVIDIA_T4_GPUS' exceeded" in err.value.message
    assert list(client.list_notebook_runtimes(parent=PARENT)) == []


def test_an_idle_timeout_under_ten_minutes_is_refused(client):
    with pytest.raises(exceptions.BadRequest, match="idle_timeout"):
        template(client, idle_minutes=5)
    assert list(client.list_notebook_runtime_templates(parent=PARENT)) == []


def test_a_gpu_the_machine_cannot_take_is_refused(client):
    with pytest.raises(exceptions.BadRequest, match="not supported for machine type"):
        template(client, machine_type="e2-standard-4")


def test_a_list_comes_in_pages_the_pager_follows(client):
    for tid in ("tpl-a", "tpl-b", "tpl-c"):
        template(client, tid)
    pager = client.list_notebook_runtime_templates(request={"parent": PARENT, "page_size": 2})
    assert [t.display_name for t in pager] == ["tpl-a", "tpl-b", "tpl-c"]


def test_a_quota_shortfall_found_by_the_operation_is_resource_exhausted(client, emu):
    runtime = running(client, idle_minutes=None)
    client.stop_notebook_runtime(name=runtime.name).result(timeout=30)
    wait_state(client, runtime.name, "STOPPED")
    emu.inject("StartNotebookRuntime", "quota")
    with pytest.raises(exceptions.ResourceExhausted, match="NVIDIA_T4_GPUS"):
        client.start_notebook_runtime(name=runtime.name).result(timeout=30)
    assert state(client, runtime.name) == RS.STOPPED


def test_activity_starts_the_idle_timeout_again(client, emu):
    tpl = template(client, idle_minutes=60)  # 3 s at the tests' scale
    op = assign(client, tpl)
    runtime = f"{PARENT}/notebookRuntimes/nb1"
    emu.busy(runtime)  # held until the activity below begins
    op.result(timeout=30)
    wait_state(client, runtime, "RUNNING")
    emu.busy(runtime, False)
    for _ in range(8):  # 4 s of activity in all, more than the timeout
        time.sleep(0.5)
        emu.activity(runtime)
    assert state(client, runtime) == RS.RUNNING
    wait_state(client, runtime, "STOPPED")
