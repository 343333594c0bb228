"""The fake Paperspace API itself: it checks what it receives, the key, and pages."""
import json
import subprocess
import sys

import httpx
import pytest


@pytest.fixture
def client(emu):
    with httpx.Client(base_url=emu.url + "/", headers={"Authorization": f"Bearer {emu.key}"}) as c:
        yield c


def test_unknown_body_field_is_rejected_and_recorded(emu, client):
    r = client.post("startup-scripts", json={"name": "x", "script": "true", "tags": ["a"]})
    assert r.status_code == 400 and r.json()["code"] == "BAD_REQUEST"
    assert "tags: unknown field" in emu.violations[0]["problems"]
    emu.violations.clear()  # seen: the fixture's no-violation check is for the provider


def test_missing_required_field_is_rejected(emu, client):
    r = client.post("machines", json={"name": "x", "machineType": "A4000"})
    assert r.status_code == 400
    assert {"templateId: required", "diskSize: required", "region: required"} <= set(
        emu.violations[0]["problems"])
    emu.violations.clear()


def test_wrong_type_is_rejected(emu, client):
    r = client.put("machines/any", json={"autoShutdownTimeout": "2"})
    assert r.status_code == 400 and "expected number" in emu.violations[0]["problems"][0]
    emu.violations.clear()


def test_wrong_key_is_401_in_the_documented_error_shape(emu):
    r = httpx.get(f"{emu.url}/machines", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401 and set(r.json()) == {"message", "code"}


def test_machines_list_pages_with_cursor(emu, client):
    emu.page_size = 1
    for n in ("a", "b"):
        client.post("machines", json={"name": n, "machineType": "A4000",
                                      "templateId": "tubuntu2204", "diskSize": 50,
                                      "region": "East Coast (NY2)"}).raise_for_status()
    first = client.get("machines").json()
    second = client.get("machines", params={"after": first["nextPage"]}).json()
    assert first["hasMore"] and not second["hasMore"]
    assert {first["items"][0]["name"], second["items"][0]["name"]} == {"a", "b"}


def test_http_control_injects_a_failure(emu, client):
    httpx.post(f"{emu.url.rsplit('/v1', 1)[0]}/_emulator/inject",
               json={"method": "GET", "route": "/machines", "status": 429,
                     "message": "Too many requests", "code": "TOO_MANY_REQUESTS"})
    assert client.get("machines").status_code == 429
    assert client.get("machines").status_code == 200


def test_runs_as_a_module_and_prints_its_url():
    proc = subprocess.Popen([sys.executable, "-m", "tests.emulators.paperspace", "--port", "0"],
                            stdout=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        r = httpx.get(f"{url}/os-templates")
        assert r.status_code == 200 and json.loads(r.text)["items"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_unknown_query_parameter_is_rejected_and_recorded(emu, client):
    r = client.get("machines", params={"state": "ready"})
    assert r.status_code == 400 and r.json()["code"] == "BAD_REQUEST"
    assert "query state: unknown parameter" in emu.violations[0]["problems"]
    emu.violations.clear()


def test_body_on_an_endpoint_that_takes_none_is_rejected(emu, client):
    r = client.request("PATCH", "machines/any/start", json={"force": True})
    assert r.status_code == 400
    assert "this endpoint takes no request body" in emu.violations[0]["problems"]
    emu.violations.clear()


def test_paperspace_refuses_a_disk_size_outside_its_enum(emu, client):
    r = client.post("machines", json={"name": "x", "machineType": "A4000",
                                      "templateId": "tubuntu2204", "diskSize": 120,
                                      "region": "East Coast (NY2)"})
    assert r.status_code == 400 and set(r.json()) == {"message", "code", "details"}
    assert any(p.startswith("diskSize: 120 is not one of") for p in emu.violations[0]["problems"])
    assert emu.live_machines() == []
    emu.violations.clear()


def test_paperspace_refuses_a_gpu_type_in_a_datacenter_that_does_not_run_it(emu, client):
    r = client.post("machines", json={"name": "x", "machineType": "A6000",
                                      "templateId": "tubuntu2204", "diskSize": 50,
                                      "region": "Europe (AMS1)"})
    assert r.status_code == 400 and r.json()["code"] == "BAD_REQUEST"
    assert emu.live_machines() == []


def test_paperspace_refuses_an_unknown_machine_type(emu, client):
    r = client.post("machines", json={"name": "x", "machineType": "A4000x3",
                                      "templateId": "tubuntu2204", "diskSize": 50,
                                      "region": "East Coast (NY2)"})
    assert r.status_code == 400 and emu.live_machines() == []


def test_paperspace_takes_the_region_by_the_name_its_docs_send(emu, client):
    r = client.post("machines", json={"name": "x", "machineType": "A4000",
                                      "templateId": "tubuntu2204", "diskSize": 50,
                                      "region": "ny2"})
    assert r.status_code == 400 and emu.live_machines() == []
