"""One test per row of the Paperspace error table, fed payloads in the documented error shape
{"message", "code", "details"?}; then the same answers through HTTP from the fake."""
import pytest
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
from nbctl_cloud.providers.paperspace.faults import TABLE, classify

# Paperspace's stockout answer, as users reported it (github.com/Paperspace/gradient-cli #327).
STOCKOUT = ("We are currently out of capacity for the selected VM type. Try again in a few "
            "minutes, or select a different instance.")

ROWS = {
    "out-of-capacity": (400, {"message": STOCKOUT, "code": "BAD_REQUEST"},
                        CapacityError, Scope.ZONE),
    "machine-limit": (400, {"message": "You have reached your machine limit. Contact support.",
                            "code": "BAD_REQUEST"}, QuotaError, Scope.GLOBAL),
    "unauthenticated": (401, {"message": "You must be logged in to access this resource.",
                              "code": "UNAUTHORIZED"}, AuthError, None),
    "forbidden": (403, {"message": "You do not have permission to perform this action.",
                        "code": "FORBIDDEN"}, AuthError, None),
    "not-found": (404, {"message": "Machine not found", "code": "NOT_FOUND"}, NotFound, None),
    "rate-limited": (429, {"message": "Too many requests", "code": "TOO_MANY_REQUESTS"},
                     TransientError, None),
    "server-error": (503, {"message": "Service unavailable", "code": "INTERNAL_SERVER_ERROR"},
                     TransientError, None),
    "bad-request": (400, {"message": "Input validation failed", "code": "BAD_REQUEST",
                          "details": {"issues": [{"message": "diskSize: Required"}]}},
                    UserError, None),
}


def test_every_table_row_has_a_test_case():
    assert sorted(r.name for r in TABLE) == sorted(ROWS)


@pytest.mark.parametrize("row", sorted(ROWS))
def test_row_classifies_its_payload(row):
    status, payload, error, scope = ROWS[row]
    err = classify(status, payload)
    assert type(err) is error
    assert err.scope is scope
    assert payload["message"] in err.message


def test_auth_errors_name_the_key_variable():
    assert "PAPERSPACE_API_KEY" in classify(401, {"message": "x", "code": "UNAUTHORIZED"}).message


def test_unmatched_status_is_a_plain_failure_with_the_cloud_words():
    err = classify(418, {"message": "I'm a teapot", "code": "TEAPOT"})
    assert type(err) is NbctlError and "teapot" in err.message


def test_non_json_body_still_classifies_by_status():
    assert isinstance(classify(502, None), TransientError)


def test_transient_answer_is_retried_until_it_succeeds(emu, paperspace, make_spec):
    emu.inject("GET", "/startup-scripts", 503, "Service unavailable",
               code="INTERNAL_SERVER_ERROR", times=2)
    assert paperspace.get("ps1") is None
    assert emu.count("GET", "/startup-scripts") == 3


def test_paperspace_refuses_a_create_out_of_capacity_though_availability_said_yes(
        emu, paperspace, make_spec):
    emu.run_out_of_capacity("A4000", "ny2")
    with pytest.raises(CapacityError) as e:
        paperspace.create(make_spec(zones=("ny2",)))
    assert e.value.scope is Scope.ZONE and emu.count("POST", "/machines") == 1
    assert emu.live_machines() == []


def test_bad_request_is_not_retried(emu, paperspace, make_spec):
    emu.inject("POST", "/machines", 400, "any words", times=5)
    with pytest.raises(UserError):
        paperspace.create(make_spec())
    assert emu.count("POST", "/machines") == 1
