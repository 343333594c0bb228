"""The GCP error table, row by row, fed payloads in the shapes the real APIs return:
HTTP errors as google.api_core builds them from a response, Compute Engine operation errors,
and Notebooks long-running operation errors (google.rpc.Status)."""
from __future__ import annotations

import json

import pytest
import requests
from google.api_core import exceptions as gexc
from google.cloud import compute_v1
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
from nbctl_cloud.providers.gcp import faults

URL = "https://compute.googleapis.com/compute/v1/projects/p/zones/us-central1-a/instances"


def http_error(status: int, payload: dict, method: str = "POST") -> gexc.GoogleAPICallError:
    resp = requests.Response()
    resp.status_code = status
    resp._content = json.dumps(payload).encode()
    resp.request = requests.Request(method, URL).prepare()
    return gexc.from_http_response(resp)


def compute_http(status: int, reason: str, message: str, domain: str = "global") -> NbctlError:
    e = http_error(status, {"error": {"code": status, "message": message,
                                      "errors": [{"message": message, "domain": domain,
                                                  "reason": reason}]}})
    return faults.to_error(faults.fault_from_http(e))


def notebooks_http(status: int, rpc_status: str, message: str, details=()) -> NbctlError:
    e = http_error(status, {"error": {"code": status, "message": message, "status": rpc_status,
                                      "details": list(details)}})
    return faults.to_error(faults.fault_from_http(e))


PHRASES = {400: "BAD REQUEST", 403: "FORBIDDEN", 503: "SERVICE UNAVAILABLE"}


def operation_error(*errors: dict, http_status: int = 400) -> NbctlError:
    op = compute_v1.Operation.from_json(json.dumps({
        "kind": "compute#operation", "name": "operation-1", "status": "DONE",
        "operationType": "insert", "httpErrorStatusCode": http_status,
        "httpErrorMessage": PHRASES[http_status], "error": {"errors": list(errors)}}),
        ignore_unknown_fields=True)
    return faults.to_error(faults.fault_from_gce_operation(op))


def lro_error(code: int, message: str) -> NbctlError:
    return faults.to_error(faults.fault_from_rpc_status(code, message))


def test_row_zone_stockout_is_capacity_in_zone():
    err = operation_error({"code": "ZONE_RESOURCE_POOL_EXHAUSTED", "message":
                           "The zone 'projects/p/zones/us-central1-a' does not have enough "
                           "resources available to fulfill the request.  Try a different zone, "
                           "or try again later."}, http_status=503)
    assert isinstance(err, CapacityError) and err.scope is Scope.ZONE
    assert err.code == "ZONE_RESOURCE_POOL_EXHAUSTED"


def test_row_zone_stockout_with_details_is_capacity_in_zone():
    err = operation_error({"code": "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS", "message":
                           "The zone 'projects/p/zones/us-central1-a' does not have enough "
                           "resources available to fulfill the request.  '(resource type:compute)'.",
                           "errorDetails": [
                               {"help": {"links": [{"description": "Troubleshooting documentation",
                                                    "url": "https://cloud.google.com/compute/docs/resource-error"}]}},
                               {"errorInfo": {"reason": "resource_availability",
                                              "domain": "compute.googleapis.com",
                                              "metadatas": {"vmType": "n1-standard-4",
                                                            "zone": "us-central1-a",
                                                            "zonesAvailable": "us-central1-b"}}}]},
                          http_status=503)
    assert isinstance(err, CapacityError) and err.scope is Scope.ZONE


def test_row_stockout_text_in_a_workbench_operation_is_capacity_in_zone():
    err = lro_error(8, "The zone 'us-central1-a' does not have enough resources available to "
                       "fulfill the request. Try a different zone, or try again later.")
    assert isinstance(err, CapacityError) and err.scope is Scope.ZONE


def test_row_accelerator_missing_from_zone_is_capacity_in_zone():
    err = compute_http(400, "invalid", "Invalid value for field 'resource.guestAccelerators[0]."
                       "acceleratorType': 'projects/p/zones/us-central1-f/acceleratorTypes/"
                       "nvidia-tesla-t4'. Accelerator type 'nvidia-tesla-t4' does not exist in "
                       "zone us-central1-f.")
    assert isinstance(err, CapacityError) and err.scope is Scope.ZONE


def test_row_gpus_all_regions_quota_is_global():
    err = operation_error({"code": "QUOTA_EXCEEDED", "message":
                           "Quota 'GPUS_ALL_REGIONS' exceeded.  Limit: 0.0 globally.",
                           "errorDetails": [{"quotaInfo": {"metricName": "compute.googleapis.com/gpus_all_regions",
                                                           "limitName": "GPUS-ALL-REGIONS-per-project"}}]},
                          http_status=403)
    assert isinstance(err, QuotaError) and err.scope is Scope.GLOBAL
    assert "GPUS_ALL_REGIONS" in err.message


def test_row_regional_quota_is_quota_in_region():
    err = operation_error({"code": "QUOTA_EXCEEDED", "message":
                           "Quota 'NVIDIA_T4_GPUS' exceeded.  Limit: 1.0 in region us-central1."},
                          http_status=403)
    assert isinstance(err, QuotaError) and err.scope is Scope.REGION
    assert "NVIDIA_T4_GPUS" in err.message


def test_row_quota_text_in_a_workbench_operation_is_quota():
    err = lro_error(8, "Quota 'NVIDIA_L4_GPUS' exceeded. Limit: 0.0 in region us-east4.")
    assert isinstance(err, QuotaError) and err.scope is Scope.REGION


@pytest.mark.parametrize("reason", ["rateLimitExceeded", "userRateLimitExceeded"])
def test_row_rate_limit_reason_is_transient_even_as_403(reason):
    err = compute_http(403, reason, "Rate Limit Exceeded", domain="usageLimits")
    assert isinstance(err, TransientError)


def test_row_synchronous_403_quota_exceeded_is_quota_in_region_with_the_fix():
    err = compute_http(403, "quotaExceeded", "Quota 'NVIDIA_T4_GPUS' exceeded.  Limit: 0.0 in "
                       "region us-central1.", domain="usageLimits")
    assert isinstance(err, QuotaError) and err.scope is Scope.REGION
    assert "raise the quota" in str(err)


def test_row_429_is_transient():
    err = notebooks_http(429, "RESOURCE_EXHAUSTED", "Quota exceeded for quota metric 'Queries' "
                         "and limit 'Queries per minute' of service 'notebooks.googleapis.com'")
    assert isinstance(err, TransientError)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_row_5xx_is_transient(status):
    err = compute_http(status, "backendError", "Internal error. Please try again.")
    assert isinstance(err, TransientError)


def test_row_401_is_auth_error_naming_the_fix():
    err = notebooks_http(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
    assert isinstance(err, AuthError)
    assert "application-default login" in err.message


def test_row_compute_403_names_the_missing_permission():
    err = compute_http(403, "forbidden", "Required 'compute.instances.create' permission for "
                       "'projects/p/zones/us-central1-a/instances/sp1'")
    assert isinstance(err, AuthError)
    assert "compute.instances.create" in err.message


def test_row_notebooks_403_names_the_permission_from_error_info():
    err = notebooks_http(403, "PERMISSION_DENIED", "The caller does not have permission", [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "IAM_PERMISSION_DENIED",
         "domain": "notebooks.googleapis.com",
         "metadata": {"permission": "notebooks.instances.create",
                      "resource": "projects/p/locations/us-central1-a"}}])
    assert isinstance(err, AuthError)
    assert "notebooks.instances.create" in err.message


def test_row_404_is_not_found():
    err = compute_http(404, "notFound", "The resource 'projects/p/zones/us-central1-a/instances/x' "
                       "was not found")
    assert isinstance(err, NotFound)


def test_row_policy_in_use_is_marked_in_use():
    err = compute_http(400, "resourceInUseByAnotherResource", "The resource_policy resource "
                       "'projects/p/regions/us-central1/resourcePolicies/x' is already being used "
                       "by 'projects/p/zones/us-central1-a/instances/a'")
    assert isinstance(err, UserError) and err.code == "resourceInUseByAnotherResource"


def test_row_409_is_already_exists():
    err = compute_http(409, "alreadyExists", "The resource 'projects/p/zones/us-central1-a/"
                       "instances/sp1' already exists")
    assert isinstance(err, UserError) and err.code == "alreadyExists"


def test_row_400_is_user_error():
    err = compute_http(400, "invalid", "Invalid value for field 'resource.machineType'")
    assert isinstance(err, UserError)


def test_a_failure_no_row_matches_is_a_plain_error_and_not_retried():
    err = faults.to_error(faults.Fault(message="the boot image is corrupt"))
    assert type(err) is NbctlError and not err.retryable
    assert "the boot image is corrupt" in err.message


# One fault per row, as the parsers above produce them: each must land on its own row (the
# first match wins, so a row shadowed by an earlier one fails here), and every row has one.
ROW_EXAMPLES = [
    (faults.Fault("pool exhausted", 503, ("ZONE_RESOURCE_POOL_EXHAUSTED",)), "zone-stockout"),
    (faults.Fault("The zone 'z' does not have enough resources available to fulfill the "
                  "request.", 400, ("RESOURCE_EXHAUSTED",)), "stockout-text"),
    (faults.Fault("Invalid value: accelerator type nvidia-tesla-t4 does not exist in zone z",
                  400), "accelerator-not-in-zone"),
    (faults.Fault("Quota 'GPUS_ALL_REGIONS' exceeded. Limit: 0.0 globally.", 403,
                  ("QUOTA_EXCEEDED",)), "gpus-all-regions-quota"),
    (faults.Fault("Quota 'NVIDIA_T4_GPUS' exceeded. Limit: 1.0 in region us-central1.", 403,
                  ("QUOTA_EXCEEDED",)), "regional-quota"),
    (faults.Fault("Quota 'CPUS' exceeded. Limit: 8.0 in region us-central1.", 400), "quota-text"),
    (faults.Fault("Rate Limit Exceeded", 403, ("rateLimitExceeded",)), "rate-limit"),
    (faults.Fault("Too many requests", 429), "too-many-requests"),
    (faults.Fault("Service unavailable", 503), "server-error"),
    (faults.Fault("Request had invalid authentication credentials.", 401), "unauthenticated"),
    (faults.Fault("Required 'compute.instances.create' permission", 403, ("forbidden",)),
     "permission-denied"),
    (faults.Fault("The resource 'x' was not found", 404, ("notFound",)), "not-found"),
    (faults.Fault("The resource_policy resource 'p' is already being used by 'i'", 400,
                  ("resourceInUseByAnotherResource",)), "in-use"),
    (faults.Fault("The resource 'x' already exists", 409, ("alreadyExists",)), "already-exists"),
    (faults.Fault("Invalid value for field 'resource.machineType'", 400, ("invalid",)),
     "bad-request"),
]


@pytest.mark.parametrize("fault,row", ROW_EXAMPLES, ids=[r for _, r in ROW_EXAMPLES])
def test_each_row_is_reached_by_its_own_fault(fault, row):
    assert faults.row_for(fault).name == row


def test_every_row_has_an_example():
    assert {row for _, row in ROW_EXAMPLES} == {row.name for row in faults.TABLE}
