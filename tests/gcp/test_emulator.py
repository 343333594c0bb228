"""The emulator itself: it rejects what Google's discovery documents reject, honours requestId,
and moves through states over time."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

BASE = "/compute/v1/projects/test-project/zones/us-central1-a"


def send(emu, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(emu.url + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.fixture
def strict(emu):
    """The emulator, with the violations this test provokes on purpose cleared at the end."""
    yield emu
    emu.violations.clear()


def vm(name="v1", **extra):
    body = {"name": name, "machineType": "zones/us-central1-a/machineTypes/n1-standard-4",
            "disks": [{"boot": True, "initializeParams": {"sourceImage":
                       "projects/deeplearning-platform-release/global/images/common-cu124-v20250601-debian-11-py310"}}]}
    body.update(extra)
    return body


def test_an_unknown_body_field_is_a_violation(strict):
    status, _ = send(strict, "POST", f"{BASE}/instances", vm(machineKind="big"))
    assert status == 400
    assert any('Unknown name "machineKind" at \'resource\'' in v for v in strict.violations)


def test_a_nested_unknown_field_is_a_violation(strict):
    status, _ = send(strict, "POST", f"{BASE}/instances", vm(scheduling={"spot": True}))
    assert status == 400
    assert any('Unknown name "spot" at \'resource.scheduling\'' in v for v in strict.violations)


def test_a_bad_enum_value_is_a_violation(strict):
    status, _ = send(strict, "POST", f"{BASE}/instances", vm(scheduling={"provisioningModel": "CHEAP"}))
    assert status == 400
    assert any("provisioningModel' (TYPE_ENUM), \"CHEAP\"" in v for v in strict.violations)


def test_an_unknown_query_parameter_is_a_violation(strict):
    status, _ = send(strict, "GET", f"{BASE}/instances?returnEverything=true")
    assert status == 400
    assert any('Unknown name "returnEverything"' in v for v in strict.violations)


def test_a_path_no_method_has_is_a_violation(strict):
    status, _ = send(strict, "POST", f"{BASE}/instances/v1/explode")
    assert status == 404  # Google's front end: no such method
    assert strict.violations


def test_a_well_formed_insert_passes_and_is_counted(emu):
    status, op = send(emu, "POST", f"{BASE}/instances?requestId=5f4c6a0e-0000-4000-8000-000000000001", vm())
    assert status == 200 and op["status"] in ("PENDING", "RUNNING")
    assert emu.counts["compute.instances.insert"] == 1 and emu.violations == []


def test_the_same_request_id_returns_the_same_operation_and_no_second_vm(emu):
    path = f"{BASE}/instances?requestId=5f4c6a0e-0000-4000-8000-000000000002"
    _, first = send(emu, "POST", path, vm())
    _, second = send(emu, "POST", path, vm())
    assert first["name"] == second["name"]
    assert list(emu.compute.instances) == [("us-central1-a", "v1")]


def test_an_instance_passes_through_provisioning_and_staging_to_running(emu):
    send(emu, "POST", f"{BASE}/instances", vm())
    seen = []
    deadline = time.monotonic() + 60  # stops a broken test only
    while not seen or seen[-1] != "RUNNING":
        if time.monotonic() >= deadline:
            raise TimeoutError(f"never RUNNING: {seen}")
        status = send(emu, "GET", f"{BASE}/instances/v1")[1]["status"]
        if not seen or seen[-1] != status:
            seen.append(status)
        time.sleep(0.01)
    # A loaded machine's polls may miss a short state, never see them out of order.
    order = ["PROVISIONING", "STAGING", "RUNNING"]
    assert seen == [s for s in order if s in seen]


def test_operations_are_pending_before_done(emu):
    _, op = send(emu, "POST", f"{BASE}/instances", vm())
    assert op["status"] != "DONE"
    _, waited = send(emu, "POST", f"{BASE}/operations/{op['name']}/wait")
    assert waited["status"] == "DONE"
