import pytest
from nbctl_cloud.errors import UserError
from nbctl_cloud.model import InstanceSpec, Schedule
from nbctl_cloud.spec import format_duration, parse_duration, parse_gpu

KNOWN = {"t4", "a100", "a100-80gb"}


@pytest.mark.parametrize("text,seconds", [
    ("45m", 2700), ("2h", 7200), ("1h30m", 5400), ("90s", 90), ("1d", 86400), ("30", 1800),
    (" 2H ", 7200),
])
def test_parse_duration_accepts_common_forms(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5q", "m", "h1", "-5m", "0", "0m", "1.5h", "45 m", "9" * 30])
def test_parse_duration_rejects_malformed_with_the_fix(text):
    with pytest.raises(UserError, match="45m, 2h|longer than zero|at most 365d"):
        parse_duration(text)


def test_format_duration_round_trips():
    for s in (1, 59, 60, 3600, 5400, 86461):
        assert parse_duration(format_duration(s)) == s


@pytest.mark.parametrize("text,want", [
    ("t4", ("t4", 1)), ("T4:2", ("t4", 2)), ("a100-80gb:8", ("a100-80gb", 8)),
    (None, ("none", 0)), ("none", ("none", 0)),
])
def test_parse_gpu(text, want):
    assert parse_gpu(text, KNOWN) == want


@pytest.mark.parametrize("text,match", [
    ("t4:0", "count"), ("t4:-1", "count"), ("t4:x", "count"), ("t4:17", "count"),
    ("k80", "unknown GPU"), ("none:2", "no count"),
])
def test_parse_gpu_rejects_bad_specs(text, match):
    with pytest.raises(UserError, match=match):
        parse_gpu(text, KNOWN)


def test_spec_hash_ignores_policies_but_not_the_machine():
    a = InstanceSpec(name="a", provider="gcp", gpu="t4", gpu_count=1)
    b = InstanceSpec(name="a", provider="gcp", gpu="t4", gpu_count=1, idle_timeout=60,
                     schedule=Schedule(tz="UTC", stop="0 19 * * *"))
    c = InstanceSpec(name="a", provider="gcp", gpu="t4", gpu_count=2)
    assert a.spec_hash() == b.spec_hash() != c.spec_hash()


def test_spec_round_trips_through_dict():
    s = InstanceSpec(name="a", provider="gcp", gpu="t4", gpu_count=1, zones=("z1", "z2"),
                     schedule=Schedule(tz="UTC", stop="0 19 * * *"))
    assert InstanceSpec.from_dict(s.to_dict()) == s


@pytest.mark.parametrize("text", ["１０m", "¹", "٣h", "1٠m", "99999999999999999999d", "366d",
                                  "8785h"])
def test_parse_duration_takes_ascii_digits_within_a_year(text):
    with pytest.raises(UserError, match="ASCII digits|at most 365d"):
        parse_duration(text)


def test_parse_duration_takes_its_bound_itself():
    assert parse_duration("365d") == 365 * 86400


def test_a_cron_that_fires_only_in_leap_years_is_valid():
    from nbctl_cloud.schedule import validate_cron
    assert validate_cron("0 0 29 2 *", "stop") == "0 0 29 2 *"


@pytest.mark.parametrize("zone", ["us-central1-a", "us-east-1a", "ny2", "europe-west4-b"])
def test_zone_names_of_every_cloud_pass(zone):
    from nbctl_cloud.spec import validate_place
    assert validate_place(zone, "--zone", "us-central1-a") == zone
