"""The one fault-table machinery (nbctl_cloud.faults), on small tables built here: how a row
matches, which row decides, how the error is worded, and how an SDK call is run through it."""
from __future__ import annotations

import pytest
from nbctl_cloud import retry
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
from nbctl_cloud.faults import Fault, FaultTable, Row, call, once


def test_a_code_row_matches_a_fault_carrying_that_code_among_others():
    row = Row("stockout", CapacityError, codes=("POOL_EXHAUSTED", "STOCKOUT"))
    assert row.matches(Fault("no room", codes=("invalid", "STOCKOUT")))


def test_a_code_row_does_not_match_a_fault_without_its_code():
    row = Row("stockout", CapacityError, codes=("STOCKOUT",))
    assert not row.matches(Fault("no room", 503, codes=("backendError",)))


def test_a_bare_string_is_one_code_not_its_letters():
    row = Row("stockout", CapacityError, codes="STOCKOUT")
    assert row.codes == frozenset({"STOCKOUT"})


def test_a_pattern_row_matches_the_message_ignoring_case():
    row = Row("capacity", CapacityError, pattern=r"out of capacity")
    assert row.matches(Fault("We are currently OUT OF CAPACITY for this type."))


def test_a_pattern_row_does_not_match_other_words():
    row = Row("capacity", CapacityError, pattern=r"out of capacity")
    assert not row.matches(Fault("Invalid machine type"))


def test_a_status_row_matches_one_of_its_statuses():
    row = Row("server", TransientError, http=(500, 503))
    assert row.matches(Fault("unavailable", 503))


def test_a_status_row_does_not_match_another_status_or_none():
    row = Row("server", TransientError, http=(500, 503))
    assert not row.matches(Fault("bad", 400)) and not row.matches(Fault("bad"))


def test_every_criterion_given_must_hold():
    row = Row("busy", TransientError, http=(400,), pattern=r"currently stopping")
    assert not row.matches(Fault("This machine is currently stopping.", 409))
    assert not row.matches(Fault("Invalid disk size", 400))
    assert row.matches(Fault("This machine is currently stopping.", 400))


def test_a_row_with_no_criterion_is_refused_where_it_is_defined():
    with pytest.raises(ValueError, match="catch-all"):
        Row("catch-all", NbctlError)


def test_a_table_with_two_rows_of_one_name_is_refused():
    with pytest.raises(ValueError, match="not-found"):
        FaultTable(rows=(Row("not-found", NotFound, http=(404,)),
                         Row("not-found", NotFound, codes=("NoSuchEntity",))))


def test_the_first_matching_row_decides():
    table = FaultTable(rows=(Row("quota-text", QuotaError, Scope.REGION, pattern=r"Quota"),
                             Row("bad-request", UserError, http=(400,))))
    assert table.row_for(Fault("Quota 'CPUS' exceeded", 400)).name == "quota-text"


def test_a_table_lists_its_rows_in_order():
    rows = (Row("a", NotFound, http=(404,)), Row("b", UserError, http=(400,)))
    assert [r.name for r in FaultTable(rows=rows)] == ["a", "b"]


def test_a_fault_no_row_matches_is_a_plain_error_in_the_providers_words():
    table = FaultTable(rows=(Row("not-found", NotFound, http=(404,)),),
                       unmatched="Cloud error {code}: {message}")
    err = table.to_error(Fault("the boot image is corrupt", 500, codes=("Weird",)))
    assert type(err) is NbctlError and not err.retryable
    assert err.message == "Cloud error Weird: the boot image is corrupt"
    assert err.code == "Weird"


def test_the_error_has_the_rows_class_and_carries_its_scope():
    table = FaultTable(rows=(Row("stockout", CapacityError, Scope.ZONE, codes=("STOCKOUT",)),))
    err = table.to_error(Fault("no room", codes=("STOCKOUT",)))
    assert type(err) is CapacityError and err.scope is Scope.ZONE


def test_the_message_tells_what_failed_what_happened_and_the_fix():
    table = FaultTable(rows=(Row("quota", QuotaError, codes=("QUOTA",),
                                 fix="raise the quota for {code}"),),
                       said="{code}: {message}")
    err = table.to_error(Fault("limit is 0", codes=("QUOTA",)), action="create nb1")
    assert err.message == "create nb1: QUOTA: limit is 0; raise the quota for QUOTA"


def test_a_row_may_word_its_own_message():
    table = FaultTable(rows=(Row("stockout", CapacityError, codes=("STOCKOUT",),
                                 said="no capacity: {message}"),), said="{code}: {message}")
    assert table.to_error(Fault("no room", codes=("STOCKOUT",))).message == "no capacity: no room"


def test_the_tables_fields_reach_the_templates():
    table = FaultTable(rows=(Row("denied", AuthError, http=(403,), said="refused {permission}",
                                 fix="grant {permission}"),),
                       fields=lambda f: {"permission": f.details.get("permission", "it")})
    err = table.to_error(Fault("denied", 403, details={"permission": "compute.instances.create"}))
    assert err.message == "refused compute.instances.create; grant compute.instances.create"


def test_a_field_named_code_is_the_code_the_error_carries():
    table = FaultTable(rows=(Row("server", TransientError, http=(503,)),),
                       fields=lambda f: {"code": f.code or str(f.http_status)})
    assert table.to_error(Fault("unavailable", 503)).code == "503"


def test_a_row_may_name_the_code_the_error_carries():
    table = FaultTable(rows=(Row("exists", UserError, http=(409,), code="alreadyExists"),))
    assert table.to_error(Fault("it exists", 409, codes=("conflict",))).code == "alreadyExists"


class CloudError(Exception):
    """An SDK's exception, as a provider's translate function receives it."""

    def __init__(self, status: int):
        super().__init__(f"HTTP {status}")
        self.status = status


TABLE = FaultTable(rows=(Row("throttled", TransientError, http=(429,)),
                         Row("denied", AuthError, http=(403,))))


def translate(exc: Exception) -> NbctlError | None:
    if isinstance(exc, CloudError):
        return TABLE.to_error(Fault(str(exc), exc.status))
    return None


def failing(*statuses: int):
    """A call that fails with these statuses in turn, then answers "ok"; `calls` counts."""
    calls = []

    def fn():
        calls.append(1)
        if len(calls) <= len(statuses):
            raise CloudError(statuses[len(calls) - 1])
        return "ok"
    return fn, calls


def test_once_raises_the_translated_error():
    fn, _ = failing(403)
    with pytest.raises(AuthError):
        once(translate, fn)


def test_once_lets_an_exception_the_provider_does_not_know_through_unchanged():
    def fn():
        raise KeyError("k")
    with pytest.raises(KeyError):
        once(translate, fn)


def test_once_lets_nbctls_own_errors_through_untranslated():
    def refuse(exc: Exception) -> NbctlError:
        return UserError("translated")

    def fn():
        raise NotFound("gone")
    with pytest.raises(NotFound):
        once(refuse, fn)


def test_call_retries_a_transient_fault_until_it_succeeds():
    fn, calls = failing(429, 429)
    assert call(translate, fn) == "ok"
    assert len(calls) == 3


def test_call_does_not_retry_a_fault_that_is_not_transient():
    fn, calls = failing(403, 403)
    with pytest.raises(AuthError):
        call(translate, fn)
    assert len(calls) == 1


def test_call_gives_up_after_the_policys_attempts_with_the_transient_error():
    fn, calls = failing(*[429] * (retry.MAX_ATTEMPTS + 1))
    with pytest.raises(TransientError):
        call(translate, fn)
    assert len(calls) == retry.MAX_ATTEMPTS


def test_call_passes_its_arguments_to_the_call():
    assert call(translate, lambda a, *, b: a + b, 1, b=2) == 3
