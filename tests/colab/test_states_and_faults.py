"""The colab provider's two tables, row by row: runtime states (every RuntimeState of the
shipped aiplatform_v1) and errors, fed payloads in the shapes Vertex AI sends: HTTP errors as
google.api_core builds them from a response, and finished operations' google.rpc.Status."""
from __future__ import annotations

import json

import pytest
import requests
from google.api_core import exceptions as gexc
from google.cloud import aiplatform_v1 as ap
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from nbctl_cloud.errors import (
    AuthError,
    CapacityError,
    NbctlError,
    NotFound,
    QuotaError,
    Scope,
    TransientError,
    UserError,
)
from nbctl_cloud.model import State
from nbctl_cloud.providers.colab import faults
from nbctl_cloud.providers.colab.states import RUNTIME_STATES, runtime_state

URL = ("https://us-central1-aiplatform.googleapis.com/v1/projects/p/locations/us-central1/"
       "notebookRuntimes:assign")


@pytest.mark.parametrize("native, want", [
    ("RUNTIME_STATE_UNSPECIFIED", State.PENDING),
    ("BEING_STARTED", State.PROVISIONING),
    ("RUNNING", State.RUNNING),
    ("BEING_UPGRADED", State.PROVISIONING),
    ("BEING_STOPPED", State.STOPPING),
    ("STOPPED", State.STOPPED),
    ("ERROR", State.FAILED),
    ("INVALID", State.FAILED),
])
def test_runtime_state_row(native, want):
    assert runtime_state(native) is want


def test_every_runtime_state_of_the_api_has_a_row():
    assert set(RUNTIME_STATES) == set(ap.NotebookRuntime.RuntimeState.__members__)


def http_error(status: int, rpc_status: str, message: str, details=()) -> NbctlError:
    resp = requests.Response()
    resp.status_code = status
    resp._content = json.dumps({"error": {"code": status, "message": message,
                                          "status": rpc_status,
                                          "details": list(details)}}).encode()
    resp.request = requests.Request("POST", URL).prepare()
    err = faults.translate(gexc.from_http_response(resp))
    assert err is not None
    return err


def operation_error(code: int, message: str, reason: str | None = None) -> NbctlError:
    status = status_pb2.Status(code=code, message=message)
    if reason:
        detail = any_pb2.Any()
        detail.Pack(error_details_pb2.ErrorInfo(reason=reason, domain="aiplatform.googleapis.com"))
        status.details.append(detail)
    return faults.to_error(faults.operation_fault(status))


QUOTA_INFO = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "QUOTA_EXCEEDED",
              "domain": "aiplatform.googleapis.com",
              "metadata": {"quota_metric": "NVIDIA_T4_GPUS"}}


def test_row_region_stockout_in_an_operation_is_capacity_in_that_region():
    err = operation_error(8, "Resources are insufficient in region: us-central1. Please try a "
                             "different region. If you use K80, please consider using P100 or "
                             "V100 instead.")
    assert isinstance(err, CapacityError) and err.scope is Scope.REGION
    assert "us-central1" in err.message


def test_row_region_stockout_at_once_is_capacity_not_a_retry():
    err = http_error(429, "RESOURCE_EXHAUSTED", "Resources are insufficient in region: "
                                                "us-east4. Please try a different region.")
    assert isinstance(err, CapacityError) and err.scope is Scope.REGION


def test_row_gpus_all_regions_quota_stops_the_failover():
    err = operation_error(8, "Quota 'GPUS_ALL_REGIONS' exceeded. Limit: 0.0 globally.",
                          reason="QUOTA_EXCEEDED")
    assert isinstance(err, QuotaError) and err.scope is Scope.GLOBAL
    assert "raise the quota" in err.message


def test_row_regional_quota_by_its_reason_moves_on_to_the_next_region():
    err = operation_error(8, "Quota 'NVIDIA_T4_GPUS' exceeded. Limit: 0.0 in region "
                             "us-central1.", reason="QUOTA_EXCEEDED")
    assert isinstance(err, CapacityError) and err.scope is Scope.REGION
    assert "NVIDIA_T4_GPUS" in err.message and "raise the quota" in err.message


def test_row_regional_quota_by_its_words_at_once_moves_on_too():
    err = http_error(429, "RESOURCE_EXHAUSTED", "Quota 'NVIDIA_L4_GPUS' exceeded. Limit: 0.0 in "
                                                "region us-east4.")
    assert isinstance(err, CapacityError) and err.scope is Scope.REGION


def test_row_a_runtime_between_states_is_bad_input_with_the_fix():
    err = http_error(400, "FAILED_PRECONDITION", "NotebookRuntime projects/p/locations/"
                     "us-central1/notebookRuntimes/nb1 is in state BEING_STARTED.")
    assert isinstance(err, UserError) and "wait until the runtime is RUNNING" in err.message


def test_row_429_without_capacity_words_is_transient():
    err = http_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded for quota metric 'Resource "
                                                "management (CRUD) requests'.")
    assert isinstance(err, TransientError)


@pytest.mark.parametrize("status, rpc", [(500, "INTERNAL"), (503, "UNAVAILABLE"),
                                         (504, "DEADLINE_EXCEEDED")])
def test_row_server_errors_are_transient(status, rpc):
    assert isinstance(http_error(status, rpc, "The service is currently unavailable."),
                      TransientError)


def test_row_unauthenticated_names_the_credentials_fix():
    err = http_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
    assert isinstance(err, AuthError) and "gcloud auth application-default login" in err.message


def test_row_permission_denied_names_the_permission_and_the_role():
    err = http_error(403, "PERMISSION_DENIED", "Permission 'aiplatform.notebookRuntimes.assign' "
                     "denied on resource '//aiplatform.googleapis.com/projects/p/locations/"
                     "us-central1' (or it may not exist).",
                     [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                       "reason": "IAM_PERMISSION_DENIED", "domain": "aiplatform.googleapis.com",
                       "metadata": {"permission": "aiplatform.notebookRuntimes.assign"}}])
    assert isinstance(err, AuthError)
    assert "aiplatform.notebookRuntimes.assign" in err.message
    assert "roles/aiplatform.colabEnterpriseUser" in err.message


def test_row_not_found():
    assert isinstance(http_error(404, "NOT_FOUND", "NotebookRuntime nb1 is not found."), NotFound)


def test_row_already_exists_carries_its_code():
    err = http_error(409, "ALREADY_EXISTS", "NotebookRuntimeTemplate t already exists.")
    assert isinstance(err, UserError) and err.code == "alreadyExists"


def test_row_bad_request():
    err = http_error(400, "INVALID_ARGUMENT", "Machine type \"n9-huge\" is not supported.")
    assert isinstance(err, UserError) and "n9-huge" in err.message


def test_an_answer_no_row_knows_is_a_plain_failure_in_vertex_ais_words():
    err = http_error(501, "UNIMPLEMENTED", "Operation is not implemented.")
    assert type(err) is NbctlError and err.message.startswith("Vertex AI error:")


def test_every_row_has_a_test():
    tested = {"region-stockout", "gpus-all-regions-quota", "regional-quota",
              "regional-quota-text", "not-settled", "too-many-requests", "server-error",
              "unauthenticated", "permission-denied", "not-found", "already-exists",
              "bad-request"}
    assert {row.name for row in faults.TABLE} == tested


def test_a_regional_quota_refused_at_once_carries_its_errorinfo_reason():
    err = http_error(429, "RESOURCE_EXHAUSTED", "Quota 'NVIDIA_T4_GPUS' exceeded. Limit: 0.0 in "
                                                "region us-central1.", [QUOTA_INFO])
    assert isinstance(err, CapacityError) and err.code == "QUOTA_EXCEEDED"
