"""Bad input is refused with one line and exit 2, never an internal error and never ignored:
ASCII digits only, with stated bounds; names that are not empty; IANA zones; crons that fire."""
from __future__ import annotations

import pytest
from nbctl_cloud.cli import main


def refused(capsys, nbctl_home, *argv: str) -> str:
    """The one error line of a command that must be refused as bad input."""
    code = main(list(argv))
    err = capsys.readouterr().err
    assert code == 2, (code, err)
    assert len(err.strip().splitlines()) == 1 and "internal error" not in err, err
    local = nbctl_home / "data" / "local"
    assert not local.exists() or not any(local.iterdir())  # nothing half-made
    return err


def test_a_superscript_gpu_count_is_refused_not_an_internal_error(capsys, nbctl_home):
    assert "ASCII digits" in refused(capsys, nbctl_home, "up", "x", "--dry-run", "--gpu", "t4:¹")


def test_a_superscript_duration_is_refused_not_an_internal_error(capsys, nbctl_home):
    err = refused(capsys, nbctl_home, "up", "x", "--dry-run", "--idle-timeout", "¹")
    assert "--idle-timeout" in err and "45m" in err


def test_a_scheduler_interval_of_999999999_minutes_is_refused_with_its_bound(capsys, nbctl_home):
    assert "at most 365d" in refused(capsys, nbctl_home, "scheduler", "--once",
                                     "--interval", "999999999")


@pytest.mark.parametrize("option,value", [("--idle-timeout", "１０m"), ("--idle-timeout", "٣h"),
                                          ("--gpu", "t4:２")])
def test_fullwidth_and_other_non_ascii_digits_are_refused(capsys, nbctl_home, option, value):
    assert "ASCII digits" in refused(capsys, nbctl_home, "up", "x", "--dry-run", option, value)


@pytest.mark.parametrize("option,value,needle", [
    ("--provider", "", "--provider is empty"), ("--gpu", "", "invalid --gpu ''"),
    ("--zone", ",", "empty zone name"), ("--zone", "us-central1-a,", "empty zone name"),
    ("--idle-timeout", "", "--idle-timeout"),
])
def test_empty_names_are_refused_not_ignored(capsys, nbctl_home, option, value, needle):
    assert needle in refused(capsys, nbctl_home, "up", "x", "--dry-run", option, value)


def test_an_empty_gpu_filter_is_refused_not_ignored(capsys, nbctl_home):
    assert "invalid --gpu ''" in refused(capsys, nbctl_home, "gpus", "--gpu", "")


@pytest.mark.parametrize("option,value", [("--zone", "ü"), ("--zone", "us-central1-ａ"),
                                          ("--region", "us-cëntral1"), ("--zone", "US-CENTRAL1-A")])
def test_zones_and_regions_outside_ascii_lowercase_are_refused(capsys, nbctl_home, option, value):
    err = refused(capsys, nbctl_home, "up", "x", "--dry-run", "--provider", "gcp", "--gpu", "t4",
                  option, value)
    assert f"invalid {option}" in err and "lowercase ASCII" in err


@pytest.mark.parametrize("tz", ["localtime", "posixrules", "posix/Europe/Berlin", "right/UTC"])
def test_a_time_zone_that_is_no_iana_name_is_refused(capsys, nbctl_home, tz):
    err = refused(capsys, nbctl_home, "up", "x", "--dry-run", "--schedule-stop", "0 19 * * *",
                  "--tz", tz)
    assert "IANA names only" in err


def test_an_idle_timeout_of_99999999999999999999_days_is_refused_with_its_bound(capsys, nbctl_home):
    assert "at most 365d" in refused(capsys, nbctl_home, "up", "x", "--dry-run", "--idle-timeout",
                                     "99999999999999999999d")


@pytest.mark.parametrize("cron", ["0 0 30 2 *", "0 0 31 4 *", "0 0 31 11 *"])
def test_a_cron_that_never_fires_is_refused_at_set_time(capsys, nbctl_home, cron):
    err = refused(capsys, nbctl_home, "schedule", "set", "nb", "--stop", cron, "--tz", "UTC")
    assert "never fires" in err
    assert "never fires" in refused(capsys, nbctl_home, "up", "x", "--dry-run",
                                    "--schedule-start", cron, "--tz", "UTC")


@pytest.mark.parametrize("option,value", [("--disk-gb", "１００"), ("--disk-gb", "1٠0")])
def test_non_ascii_digits_in_whole_number_options_are_refused(capsys, nbctl_home, option, value):
    err = refused(capsys, nbctl_home, "up", "x", "--dry-run", "--provider", "gcp", "--gpu", "t4",
                  option, value)
    assert "ASCII digits" in err


def test_schedule_show_of_an_impossible_stored_cron_says_how_to_replace_it(capsys, nbctl_home):
    from nbctl_cloud.model import Instance, Schedule, State
    from nbctl_cloud.store import Store
    store = Store()  # as an older version, which did not check, left it
    store.save(Instance(name="nb", provider="local", state=State.STOPPED))
    store.save_schedule("nb", "local", Schedule(tz="UTC", stop="0 0 30 2 *"), "scheduler")
    err = refused(capsys, nbctl_home, "schedule", "show", "nb")
    assert "never fires" in err and "nbctl schedule set nb" in err
