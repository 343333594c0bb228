"""The AWS error table, row by row, fed botocore ClientErrors shaped like the real APIs'."""
from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from nbctl_cloud.errors import (
    AuthError,
    CapacityError,
    NotFound,
    QuotaError,
    Scope,
    TransientError,
    UserError,
)
from nbctl_cloud.providers.aws import errors


def client_error(code: str, message: str, status: int, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message},
                        "ResponseMetadata": {"RequestId": "8c1f-4e", "HTTPStatusCode": status}},
                       operation)


# (row name, code, message, HTTP status, operation, error class, scope) - messages as AWS sends
ROWS = [
    ("zone-capacity", "InsufficientInstanceCapacity",
     "We currently do not have sufficient g4dn.xlarge capacity in the Availability Zone you "
     "requested (us-east-1a). Our system will be working on provisioning additional capacity.",
     500, "RunInstances", CapacityError, Scope.ZONE),
    ("spot-price", "SpotMaxPriceTooLow",
     "Your Spot request price of 0.1 is lower than the minimum required Spot request "
     "fulfillment price of 0.2155.", 400, "RunInstances", CapacityError, Scope.ZONE),
    ("type-not-in-zone", "Unsupported",
     "Your requested instance type (g5.xlarge) is not supported in your requested "
     "Availability Zone (us-east-1e).", 400, "RunInstances", CapacityError, Scope.ZONE),
    # a notebook SageMaker failed: its FailureReason, read as a fault with code "Failed"
    ("capacity-text", "Failed", "Insufficient notebook instance capacity for ml.g4dn.xlarge.",
     None, "DescribeNotebookInstance", CapacityError, Scope.ZONE),
    ("throttled", "RequestLimitExceeded", "Request limit exceeded.", 503, "DescribeInstances",
     TransientError, None),
    ("server-error", "InternalError", "An internal error has occurred", 500,
     "DescribeInstances", TransientError, None),
    ("spot-request-changing", "IncorrectSpotRequestState", "Only Amazon EC2 can restart an "
     "interrupted stopped Spot Instance.", 400, "StartInstances", TransientError, None),
    ("changing-state", "IncorrectInstanceState", "The instance 'i-0abc' is not in a state "
     "from which it can be stopped.", 400, "StopInstances", TransientError, None),
    ("http-5xx", "BadGateway", "Bad Gateway", 502, "ListNotebookInstances", TransientError, None),
    ("permission", "AccessDeniedException", "User: arn:aws:iam::123456789012:user/ana is not "
     "authorized to perform: sagemaker:CreateNotebookInstance on resource: arn:aws:sagemaker:"
     "us-east-1:123456789012:notebook-instance/nb", 400, "CreateNotebookInstance", AuthError, None),
    ("credentials", "ExpiredToken", "The security token included in the request is expired",
     400, "DescribeInstances", AuthError, None),
    ("quota", "ResourceLimitExceeded", "The account-level service limit 'ml.g4dn.xlarge for "
     "notebook instance usage' is 0 Instances", 400, "CreateNotebookInstance", QuotaError,
     Scope.REGION),
    ("not-found", "InvalidInstanceID.NotFound", "The instance ID 'i-0abc' does not exist", 400,
     "DescribeInstances", NotFound, None),
    ("record-not-found", "ValidationException", "RecordNotFound", 400,
     "DescribeNotebookInstance", NotFound, None),
    ("bad-image", "InvalidAMIID.NotFound", "The image id '[ami-123]' does not exist", 400,
     "RunInstances", UserError, None),
    ("bad-input", "ValidationException", "1 validation error detected: Value 'x' at "
     "'instanceType' failed to satisfy constraint", 400, "CreateNotebookInstance", UserError, None),
]


def test_every_table_row_has_a_payload_here():
    assert {r[0] for r in ROWS} == {row.name for row in errors.TABLE}


@pytest.mark.parametrize("row,code,message,status,operation,error,scope", ROWS,
                         ids=[r[0] for r in ROWS])
def test_table_row_classifies_the_real_payload(row, code, message, status, operation, error,
                                               scope):
    fault = errors.fault_from_client_error(client_error(code, message, status, operation))
    assert errors.row_for(fault).name == row
    err = errors.to_error(fault)
    assert type(err) is error
    assert err.scope == scope
    assert err.code == code


def _raiser(exc):
    def fn():
        raise exc
    return fn


def test_throttling_is_retried_until_it_succeeds():
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise client_error("ThrottlingException", "Rate exceeded", 400, "DescribeNotebookInstance")
        return "ok"

    assert errors.call(flaky) == "ok"
    assert len(calls) == 3


def test_access_denied_is_not_retried_and_names_the_permission():
    calls = []

    def denied():
        calls.append(1)
        raise client_error("UnauthorizedOperation", "You are not authorized to perform this "
                           "operation. User: arn:aws:iam::1:user/ana is not authorized to "
                           "perform: ec2:RunInstances", 403, "RunInstances")

    with pytest.raises(AuthError) as info:
        errors.call(denied)
    assert len(calls) == 1
    assert "ec2:RunInstances" in info.value.message


def test_capacity_is_not_retried_in_place():
    calls = []

    def stockout():
        calls.append(1)
        raise client_error("InsufficientInstanceCapacity", "no capacity", 500, "RunInstances")

    with pytest.raises(CapacityError):
        errors.call(stockout)
    assert len(calls) == 1


def test_unknown_code_is_a_plain_failure_with_the_cloud_words():
    fault = errors.fault_from_client_error(client_error("Weird", "something odd", 400, "X"))
    err = errors.to_error(fault)
    assert type(err).__name__ == "NbctlError" and "something odd" in err.message
