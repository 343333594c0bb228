"""The GCP emulator refuses what Compute Engine refuses, in Google's error shape, through the
real clients: google-cloud-compute (REST, anonymous) and, for values the typed client cannot
even express, Google's discovery-based client. Expected messages are written here, from the
references; never taken from the emulator."""
from __future__ import annotations

import json
import re

import pytest

ZONE = "us-central1-a"
IMAGE = "projects/deeplearning-platform-release/global/images/common-cu124-v20250601-debian-11-py310"


@pytest.fixture
def strict(emu):
    """The emulator, with the violations these tests provoke on purpose cleared at the end."""
    yield emu
    emu.violations.clear()


@pytest.fixture
def instances(emu):
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import compute_v1

    client = compute_v1.InstancesClient(credentials=AnonymousCredentials(), transport="rest",
                                        client_options=ClientOptions(api_endpoint=emu.url))
    yield client
    client.transport.close()


def vm(name="v1", machine="n1-standard-4", gpus=(), disk_gb=100, zone=ZONE, **kw):
    """A compute_v1.Instance as nbctl would send it; `gpus` are (type, count) pairs."""
    from google.cloud import compute_v1

    fields = dict(
        name=name, machine_type=f"zones/{zone}/machineTypes/{machine}",
        guest_accelerators=[compute_v1.AcceleratorConfig(
            accelerator_type=f"projects/test-project/zones/{zone}/acceleratorTypes/{t}",
            accelerator_count=n) for t, n in gpus],
        scheduling=compute_v1.Scheduling(on_host_maintenance="TERMINATE", automatic_restart=False),
        disks=[compute_v1.AttachedDisk(boot=True, auto_delete=True,
                                       initialize_params=compute_v1.AttachedDiskInitializeParams(
                                           source_image=IMAGE, disk_size_gb=disk_gb))])
    fields.update(kw)
    return compute_v1.Instance(**fields)


def insert(instances, body, zone=ZONE, request_id=None):
    from google.cloud import compute_v1

    return instances.insert_unary(request=compute_v1.InsertInstanceRequest(
        project="test-project", zone=zone, instance_resource=body, request_id=request_id))


def refusal(call) -> dict:
    """The error body Google answered `call` with; fails unless it is a 400."""
    from google.api_core import exceptions

    with pytest.raises(exceptions.BadRequest) as caught:
        call()
    return caught.value.response.json()["error"]


def assert_google_400(err: dict, message: str, reason: str = "invalid") -> None:
    assert err["code"] == 400 and re.search(message, err["message"]), err
    assert {"message": err["message"], "domain": "global", "reason": reason} in err["errors"]


# -- schema (compute.v1.json) ----------------------------------------------------------------
def test_compute_refuses_an_insert_without_the_required_instance_name(strict, instances):
    from google.cloud import compute_v1

    body = vm()
    body._pb.ClearField("name")
    assert isinstance(body, compute_v1.Instance)
    assert_google_400(refusal(lambda: insert(instances, body)),
                      r"^Required field 'resource\.name' not specified$", "required")


def test_compute_refuses_an_instance_name_off_its_pattern(strict, instances):
    assert_google_400(refusal(lambda: insert(instances, vm(name="Train_GPU"))), re.escape(
        "Invalid value for field 'resource.name': 'Train_GPU'. Must be a match of regex "
        "'(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'"))


def test_compute_refuses_a_request_id_that_is_not_a_uuid(strict, instances):
    assert_google_400(refusal(lambda: insert(instances, vm(), request_id="retry-1")),
                      r"^Invalid value for field 'requestId': 'retry-1'\. .*valid UUID")


def test_compute_refuses_the_zero_uuid_as_request_id(strict, instances):
    zero = "00000000-0000-0000-0000-000000000000"
    assert_google_400(refusal(lambda: insert(instances, vm(), request_id=zero)),
                      r"^Invalid value for field 'requestId'")


def test_compute_refuses_a_path_parameter_off_its_pattern(strict, instances):
    assert_google_400(refusal(lambda: instances.get(project="test-project", zone=ZONE,
                                                    instance="Bad_Name")),
                      r"^Invalid value for field 'instance': 'Bad_Name'\. Must be a match of regex")


def test_compute_refuses_an_enum_value_it_does_not_define(strict, instances):
    from google.cloud import compute_v1

    body = vm(scheduling=compute_v1.Scheduling(provisioning_model="CHEAP",
                                               on_host_maintenance="TERMINATE"))
    assert_google_400(refusal(lambda: insert(instances, body)), re.escape(
        "Invalid value at 'resource.scheduling.provisioningModel' (TYPE_ENUM), \"CHEAP\""))


def test_compute_refuses_an_int64_that_is_not_a_decimal_string(strict, emu):
    import httplib2
    from googleapiclient.discovery import build_from_document
    from googleapiclient.errors import HttpError

    from tests.emulators.gcp.discovery import _documents_dir

    service = build_from_document((_documents_dir() / "compute.v1.json").read_text(),
                                  http=httplib2.Http(),
                                  client_options={"api_endpoint": f"{emu.url}/compute/v1/"})
    body = {"name": "v1", "machineType": f"zones/{ZONE}/machineTypes/n1-standard-4",
            "disks": [{"boot": True, "initializeParams": {"sourceImage": IMAGE,
                                                          "diskSizeGb": "100GB"}}]}
    with pytest.raises(HttpError) as caught:
        service.instances().insert(project="test-project", zone=ZONE, body=body).execute()
    assert caught.value.resp.status == 400
    assert_google_400(json.loads(caught.value.content)["error"], re.escape(
        "Invalid value at 'resource.disks[0].initializeParams.diskSizeGb' (TYPE_INT64), \"100GB\""))


def test_compute_ignores_output_only_fields_sent_on_insert(emu, instances):
    insert(instances, vm(id=42, status="RUNNING", self_link="https://example.com/vm"))
    kept = emu.requests[-1]["body"]
    assert {"id", "status", "selfLink"}.isdisjoint(kept) and kept["name"] == "v1"
    made = emu.compute.instances[(ZONE, "v1")]
    assert made["id"] != "42" and made["selfLink"].endswith(f"/zones/{ZONE}/instances/v1")
    assert emu.violations == []



def test_workbench_refuses_a_request_id_that_is_not_a_uuid(strict, emu):
    # notebooks.v2.json: requestId is an "Idempotent request UUID"; Notebooks answers in the
    # google.rpc.Status shape (INVALID_ARGUMENT with a BadRequest detail).
    from google.api_core import exceptions
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import notebooks_v2

    client = notebooks_v2.NotebookServiceClient(
        credentials=AnonymousCredentials(), transport="rest",
        client_options=ClientOptions(api_endpoint=emu.url))
    request = notebooks_v2.CreateInstanceRequest(
        parent=f"projects/test-project/locations/{ZONE}", instance_id="nb1", request_id="again",
        instance=notebooks_v2.Instance(gce_setup=notebooks_v2.GceSetup(machine_type="n1-standard-4")))
    with pytest.raises(exceptions.BadRequest) as caught:
        client.create_instance(request=request)
    err = caught.value.response.json()["error"]
    assert err["code"] == 400 and err["status"] == "INVALID_ARGUMENT"
    assert err["message"].startswith("Invalid value for field 'requestId': 'again'.")
    assert err["details"][0]["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    assert emu.notebooks.instances == {}

# -- meaning (reference.py: Google's GPU and machine-type docs, dated) ------------------------
def test_compute_refuses_a_machine_type_the_zone_does_not_offer(instances):
    assert_google_400(refusal(lambda: insert(instances, vm(machine="n1-mega-7"))), re.escape(
        f"Invalid value for field 'resource.machineType': 'zones/{ZONE}/machineTypes/n1-mega-7'. "
        f"Machine type with name 'n1-mega-7' does not exist in zone '{ZONE}'."))


def test_compute_refuses_an_accelerator_the_zone_does_not_offer(instances):
    body = vm(machine="n1-standard-8", gpus=[("nvidia-tesla-p100", 1)])
    assert_google_400(refusal(lambda: insert(instances, body)),
                      r"^Invalid value for field 'resource\.guestAccelerators\[0\]\.acceleratorType'"
                      r": '.*'\. Accelerator type 'nvidia-tesla-p100' does not exist in zone "
                      f"{ZONE}\\.$")


def test_compute_refuses_an_n1_gpu_count_its_series_does_not_take(instances):
    body = vm(machine="n1-standard-16", gpus=[("nvidia-tesla-t4", 3)])
    assert_google_400(refusal(lambda: insert(instances, body)),
                      r"^Invalid value for field 'resource\.guestAccelerators\[0\]\.acceleratorCount'"
                      r": '3'\.")


def test_compute_refuses_extra_gpus_on_a_g2_that_comes_with_its_l4(instances):
    body = vm(machine="g2-standard-8", gpus=[("nvidia-l4", 2)])
    assert_google_400(refusal(lambda: insert(instances, body)), r"g2-standard-8", "badRequest")


def test_compute_refuses_an_a2_whose_a100_count_differs_from_its_type(instances):
    body = vm(machine="a2-highgpu-1g", gpus=[("nvidia-tesla-a100", 2)])
    assert_google_400(refusal(lambda: insert(instances, body)), r"a2-highgpu-1g", "badRequest")


def test_compute_refuses_a_gpu_on_a_machine_series_that_cannot_take_one(instances):
    body = vm(machine="e2-standard-4", gpus=[("nvidia-tesla-t4", 1)])
    assert_google_400(refusal(lambda: insert(instances, body)), re.escape(
        "[e2-standard-4, nvidia-tesla-t4] features are not compatible for creating instance."),
        "badRequest")


def test_compute_refuses_live_migration_for_a_vm_with_gpus(instances):
    from google.cloud import compute_v1

    body = vm(gpus=[("nvidia-tesla-t4", 1)],
              scheduling=compute_v1.Scheduling(on_host_maintenance="MIGRATE"))
    assert_google_400(refusal(lambda: insert(instances, body)),
                      r"guest accelerators do not support live migration", "badRequest")


def test_compute_refuses_a_label_key_that_is_not_lowercase(instances):
    assert_google_400(refusal(lambda: insert(instances, vm(labels={"Owner": "ann"}))),
                      r"Label key 'Owner' violates format constraints")


def test_compute_refuses_more_than_64_labels(instances):
    labels = {f"k{i}": "v" for i in range(65)}
    assert_google_400(refusal(lambda: insert(instances, vm(labels=labels))), r"at most 64 labels")


def test_compute_refuses_a_boot_disk_smaller_than_its_image(instances):
    assert_google_400(refusal(lambda: insert(instances, vm(disk_gb=10))), re.escape(
        "Invalid value for field 'resource.disks[0].initializeParams.diskSizeGb': '10'. "
        "Requested disk size cannot be smaller than the image size"))


def test_compute_takes_a_g2_with_its_own_l4_named_again(emu, instances):
    insert(instances, vm(machine="g2-standard-8", gpus=[("nvidia-l4", 1)]))
    assert (ZONE, "v1") in emu.compute.instances


# -- the audit's ten malformed requests, each answered 400 in Google's shape -----------------
def _scheduling(**kw):
    from google.cloud import compute_v1

    return compute_v1.Scheduling(**kw)


MALFORMED = {
    "name off its pattern": lambda c: insert(c, vm(name="Train_GPU")),
    "request id not a uuid": lambda c: insert(c, vm(), request_id="retry-1"),
    "path parameter off its pattern": lambda c: c.get(project="test-project", zone="US_CENTRAL1",
                                                      instance="v1"),
    "enum value undefined": lambda c: insert(c, vm(scheduling=_scheduling(
        provisioning_model="CHEAP", on_host_maintenance="TERMINATE"))),
    "machine type not in zone": lambda c: insert(c, vm(machine="n1-mega-7")),
    "accelerator not in zone": lambda c: insert(c, vm(machine="n1-standard-8",
                                                      gpus=[("nvidia-tesla-p100", 1)])),
    "gpu count off its series": lambda c: insert(c, vm(gpus=[("nvidia-tesla-t4", 3)])),
    "gpu vm asking live migration": lambda c: insert(c, vm(gpus=[("nvidia-tesla-t4", 1)],
                                                           scheduling=_scheduling(
                                                               on_host_maintenance="MIGRATE"))),
    "label key out of syntax": lambda c: insert(c, vm(labels={"nbctl.owner": "ann"})),
    "disk smaller than image": lambda c: insert(c, vm(disk_gb=10)),
}


@pytest.mark.parametrize("call", MALFORMED.values(), ids=MALFORMED.keys())
def test_compute_answers_each_malformed_request_of_the_audit_with_a_google_400(strict, instances,
                                                                               call):
    err = refusal(lambda: call(instances))
    assert err["code"] == 400 and err["message"]
    assert err["errors"] and all(e["domain"] == "global" and e["reason"] and e["message"]
                                 for e in err["errors"])
    assert strict.compute.instances == {}


def test_the_emulator_every_gcp_test_gets_is_strict(emu):
    assert emu.strict is True
