"""requestId as the APIs honour it: a repeat of a call is answered with the first call's
operation for as long as the server keeps the id (compute.v1.json: "at least 60 minutes"; a
control here), per method; Workbench (notebooks.v2.json) honours it on create too."""
from __future__ import annotations

import uuid

from google.cloud import compute_v1

from tests.gcp.helpers import notebook, spot

ZONE = "us-central1-a"
KEY = dict(project="test-project", zone=ZONE, instance="sp1")


def test_compute_request_ids_are_per_method(gcp, emu):
    gcp.create(spot())
    c, key = gcp.gce.c.instances, dict(KEY, request_id=str(uuid.uuid4()))
    stop = c.stop_unary(request=compute_v1.StopInstanceRequest(**key))
    gcp.gce.wait(stop, zone=ZONE)
    start = c.start_unary(request=compute_v1.StartInstanceRequest(**key))
    assert start.name != stop.name and start.operation_type == "start"


def test_compute_forgets_a_request_id_once_it_expired(gcp, emu):
    gcp.create(spot())
    c = gcp.gce.c.instances
    req = compute_v1.StopInstanceRequest(**KEY, request_id=str(uuid.uuid4()))
    first = c.stop_unary(request=req)
    assert c.stop_unary(request=req).name == first.name  # a replay while the id is kept
    emu.expire_request_ids()
    assert c.stop_unary(request=req).name != first.name


def test_workbench_create_replayed_with_its_request_id_makes_one_instance(gcp, emu):
    from google.cloud import notebooks_v2

    spec = notebook()
    gcp.create(spec)
    sent = [r for r in emu.requests if r["method"].endswith("instances.create")]
    rid = sent[0]["query"]["requestId"][0]
    again = gcp.workbench.c.notebooks.create_instance(request=notebooks_v2.CreateInstanceRequest(
        parent="projects/test-project/locations/us-central1-b", instance_id="nb1",
        instance=notebooks_v2.Instance(), request_id=rid))
    assert again.operation.name.startswith("projects/test-project/locations/us-central1-b/operations/")
    assert len(emu.notebooks.instances) == 1


def test_workbench_create_without_a_machine_type_gets_the_default(gcp, emu):
    from google.cloud import notebooks_v2

    lro = gcp.workbench.c.notebooks.create_instance(request=notebooks_v2.CreateInstanceRequest(
        parent="projects/test-project/locations/us-central1-b", instance_id="nb2",
        instance=notebooks_v2.Instance(gce_setup=notebooks_v2.GceSetup())))
    assert lro.operation.name
    made = emu.notebooks.instances["projects/test-project/locations/us-central1-b/instances/nb2"]
    assert made["gceSetup"]["machineType"].endswith("/machineTypes/n1-standard-4")
