"""Requests a test makes through aiplatform_v1, written once."""
from __future__ import annotations

from google.cloud import aiplatform_v1 as ap

from tests.conftest import wait_for

PARENT = "projects/test-project/locations/us-central1"


def template(client, tid: str = "tpl-t4", parent: str = PARENT, idle_minutes: int | None = 60,
             **spec) -> ap.NotebookRuntimeTemplate:
    """Create a template (n1-standard-4 with one T4 unless `spec` says else); wait for it."""
    spec = {"machine_type": "n1-standard-4", "accelerator_type": ap.AcceleratorType.NVIDIA_TESLA_T4,
            "accelerator_count": 1, **spec}
    machine = ap.MachineSpec(**spec)
    body = ap.NotebookRuntimeTemplate(display_name=tid, machine_spec=machine,
                                      labels={"nbctl-name": "nb1", "nbctl-owner": "tester"})
    if idle_minutes is not None:
        body.idle_shutdown_config = ap.NotebookIdleShutdownConfig(
            idle_timeout={"seconds": idle_minutes * 60})
    op = client.create_notebook_runtime_template(parent=parent, notebook_runtime_template=body,
                                                 notebook_runtime_template_id=tid)
    return op.result(timeout=30)


def assign(client, tpl: ap.NotebookRuntimeTemplate, rid: str = "nb1", parent: str = PARENT):
    """The assign operation (not waited on)."""
    runtime = ap.NotebookRuntime(runtime_user="tester@example.com", display_name=rid,
                                 labels={"nbctl-name": rid})
    return client.assign_notebook_runtime(parent=parent, notebook_runtime_template=tpl.name,
                                          notebook_runtime=runtime, notebook_runtime_id=rid)


def state(client, name: str) -> ap.NotebookRuntime.RuntimeState:
    return client.get_notebook_runtime(name=name).runtime_state


def wait_state(client, name: str, wanted: str, timeout: float = 30) -> None:
    wanted_state = ap.NotebookRuntime.RuntimeState[wanted]
    wait_for(lambda: state(client, name) == wanted_state, timeout, step=0.05,
             what=f"{name} to be {wanted}")


def running(client, tid: str = "tpl-t4", rid: str = "nb1", **kw) -> ap.NotebookRuntime:
    """A template and a RUNNING runtime assigned from it."""
    tpl = template(client, tid, **kw)
    runtime = assign(client, tpl, rid).result(timeout=30)
    wait_state(client, runtime.name, "RUNNING")
    return client.get_notebook_runtime(name=runtime.name)
