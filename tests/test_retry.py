import pytest
from nbctl_cloud import retry
from nbctl_cloud.errors import AuthError, CapacityError, TransientError


def flaky(failures, exc):
    calls = []

    def fn():
        calls.append(1)
        if len(calls) <= failures:
            raise exc
        return "ok"
    return fn, calls


def test_transient_errors_are_retried_to_success():
    fn, calls = flaky(3, TransientError("503"))
    assert retry.call(fn) == "ok"
    assert len(calls) == 4


def test_retries_are_bounded_and_reraise_the_last_error():
    fn, calls = flaky(100, TransientError("429"))
    with pytest.raises(TransientError):
        retry.call(fn)
    assert len(calls) == retry.MAX_ATTEMPTS


@pytest.mark.parametrize("exc", [AuthError("denied"), CapacityError("stockout"), ValueError("x")])
def test_other_errors_are_not_retried(exc):
    fn, calls = flaky(1, exc)
    with pytest.raises(type(exc)):
        retry.call(fn)
    assert len(calls) == 1
