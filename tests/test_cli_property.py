"""Random input never produces a traceback: success, or one line and exit 2."""
from __future__ import annotations

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from nbctl_cloud.cli import main

text = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
               max_size=30)
# digits other than ASCII's (superscripts, fullwidth, Arabic-Indic ...), which int() partly takes
unicode_digits = st.text(alphabet=st.characters(whitelist_categories=("Nd", "No", "Nl")),
                         min_size=1, max_size=6)
huge = st.integers(min_value=10**6, max_value=10**60).map(str)
numbers = st.one_of(unicode_digits, huge, st.just(""), st.from_regex(r"[0-9]{1,4}", fullmatch=True))
names = st.one_of(text, st.from_regex(r"[a-z][a-z0-9-]{0,70}", fullmatch=True))
gpus = st.one_of(text, st.sampled_from(["t4", "a100:2", "t4:0", "a4000", "none", "h100:99", ""]),
                 st.from_regex(r"[a-z0-9-]{1,10}:-?[0-9]{1,3}", fullmatch=True),
                 st.builds(lambda n: f"t4:{n}", numbers))
durations = st.one_of(text, st.from_regex(r"[0-9]{1,4}[dhms]{1,2}", fullmatch=True),
                      st.builds(lambda n, u: n + u, numbers, st.sampled_from(["", "d", "h", "m", "s"])))
providers = st.sampled_from(["local", "gcp", "aws", "paperspace", "nope", ""])
crons = st.one_of(text, st.sampled_from(["0 19 * * 1-5", "* * * * *", "0 0 31 2 *", "1 2 3",
                                         "0 0 30 2 *", ""]),
                  st.builds(lambda n: f"0 0 {n} * *", numbers))
zones = st.one_of(text, st.sampled_from(["", ",", "us-central1-a,", "ü", "us-central1-a"]))
zone_names = st.one_of(text, st.sampled_from(["UTC", "localtime", "Europe/Berlin", ""]))


def run(capsys, argv):
    assume("--debug" not in argv)  # anywhere in the arguments, it asks for tracebacks (app.py)
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def check(code, err):
    assert "Traceback" not in err
    if code != 0:
        assert code == 2, (code, err)
        assert len(err.strip().splitlines()) == 1, err


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=names, gpu=gpus, idle=durations, provider=st.none() | providers, stop=crons,
       tz=zone_names, zone=st.none() | zones, spot=st.booleans())
def test_up_dry_run_never_crashes(capsys, name, gpu, idle, provider, stop, tz, zone, spot):
    argv = ["up", name, "--dry-run", "--gpu", gpu, "--idle-timeout", idle]
    argv += ["--provider", provider] if provider is not None else []
    argv += ["--schedule-stop", stop, "--tz", tz] if stop else []
    argv += ["--zone", zone] if zone is not None else []
    argv += ["--preemptible"] if spot else []
    code, _, err = run(capsys, argv)
    check(code, err)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cmd=st.sampled_from(["status", "stop", "start", "open", "down"]), name=names,
       fmt=st.sampled_from(["table", "json", "yaml"]))
def test_commands_on_unknown_names_never_crash(capsys, cmd, name, fmt):
    argv = [cmd, name, "--output", fmt] + (["--yes"] if cmd == "down" else [])
    code, _, err = run(capsys, argv)
    check(code, err)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(gpu=text, provider=text)
def test_gpus_filters_never_crash(capsys, gpu, provider):
    code, _, err = run(capsys, ["gpus", "--gpu", gpu, "--provider", provider])
    check(code, err)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(interval=durations, grace=durations, since=durations)
def test_durations_of_the_scheduler_and_cost_never_crash(capsys, interval, grace, since):
    check(*run(capsys, ["scheduler", "--once", "--interval", interval, "--grace", grace])[::2])
    check(*run(capsys, ["cost", "--since", since])[::2])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stop=crons, tz=zone_names)
def test_schedule_set_never_crashes(capsys, stop, tz):
    check(*run(capsys, ["schedule", "set", "nb", "--stop", stop, "--tz", tz])[::2])
