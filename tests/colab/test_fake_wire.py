"""The Colab Enterprise fake reads requests as Google's front end does: the API's proto
schema, enums as numbers or names, Durations as "3600s", unknown names refused."""
from __future__ import annotations

import json
import urllib.error
import urllib.request

from tests.conftest import wait_for

PATH = "/v1/projects/test-project/locations/us-central1/notebookRuntimeTemplates"
ALT = "$alt=json;enum-encoding=int"


def send(emu, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(emu.url + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def body(**extra):
    spec = {"machineType": "n1-standard-4", "acceleratorType": 5, "acceleratorCount": 1}
    return {"displayName": "t", "machineSpec": spec, "idleShutdownConfig":
            {"idleTimeout": "3600s"}, **extra}


def test_an_unknown_field_is_refused_with_invalid_argument(strict):
    status, payload = send(strict, "POST", f"{PATH}?{ALT}", body(spot=True))
    assert status == 400
    assert payload["error"]["status"] == "INVALID_ARGUMENT"
    assert payload["error"]["message"] == ('Invalid JSON payload received. Unknown name "spot" '
                                           "at 'notebook_runtime_template': Cannot find field.")


def test_a_nested_unknown_field_is_refused(strict):
    status, payload = send(strict, "POST", PATH, body(machineSpec={"gpu": "t4"}))
    assert status == 400
    assert "Unknown name \"gpu\" at 'notebook_runtime_template.machine_spec'" in (
        payload["error"]["message"])


def test_an_unknown_query_parameter_is_refused(strict):
    status, payload = send(strict, "GET", f"{PATH}?{ALT}&zone=us-central1-a")
    assert status == 400
    assert "Cannot bind query parameter" in payload["error"]["message"]


def test_a_duration_must_be_written_in_seconds(strict):
    status, payload = send(strict, "POST", PATH, body(idleShutdownConfig={"idleTimeout": "1h"}))
    assert status == 400
    assert payload["error"]["message"] == (
        "Invalid value at 'notebook_runtime_template.idle_shutdown_config.idle_timeout' "
        '(type.googleapis.com/google.protobuf.Duration), "1h"')


def test_an_enum_is_accepted_by_name_and_by_number_and_answered_as_asked(emu):
    by_name = body(machineSpec={"machineType": "n1-standard-4",
                                "accelerator_type": "NVIDIA_TESLA_T4", "acceleratorCount": 1})
    assert send(emu, "POST", f"{PATH}?notebookRuntimeTemplateId=a", by_name)[0] == 200
    assert send(emu, "POST", f"{PATH}?notebookRuntimeTemplateId=b", body())[0] == 200
    wait_for(lambda: len(send(emu, "GET", PATH)[1].get("notebookRuntimeTemplates", [])) == 2,
             30, what="both templates")
    names = send(emu, "GET", PATH)[1]["notebookRuntimeTemplates"]
    numbers = send(emu, "GET", f"{PATH}?{ALT}")[1]["notebookRuntimeTemplates"]
    assert {t["machineSpec"]["acceleratorType"] for t in names} == {"NVIDIA_TESLA_T4"}
    assert {t["machineSpec"]["acceleratorType"] for t in numbers} == {5}


def test_an_unknown_enum_number_is_refused(strict):
    status, payload = send(strict, "POST", PATH, body(machineSpec={"acceleratorType": 999}))
    assert status == 400
    assert "(type.googleapis.com/google.cloud.aiplatform.v1.AcceleratorType), 999" in (
        payload["error"]["message"])


def test_a_zone_is_not_a_location(strict):
    status, _ = send(strict, "GET", PATH.replace("us-central1", "us-central1-a"))
    assert status == 400


def test_an_unknown_name_in_a_whole_body_request_is_refused(strict):
    path = "/v1/projects/test-project/locations/us-central1/notebookRuntimes:assign"
    status, payload = send(strict, "POST", path, {"notebookRuntimeTemplate": "x", "region": "y"})
    assert status == 400
    assert payload["error"]["message"] == ('Invalid JSON payload received. Unknown name '
                                           '"region": Cannot find field.')


def test_output_only_fields_sent_in_a_request_are_ignored(emu):
    status, _ = send(emu, "POST", f"{PATH}?notebookRuntimeTemplateId=a",
                     body(createTime="2020-01-01T00:00:00Z", isDefault=True))
    assert status == 200
    wait_for(lambda: send(emu, "GET", f"{PATH}/a")[0] == 200, 30, what="the template")
    got = send(emu, "GET", f"{PATH}/a")[1]
    assert got["createTime"] != "2020-01-01T00:00:00Z" and "isDefault" not in got
