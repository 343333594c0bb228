"""Random input never produces a traceback: success, or one line and exit 2."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nbctl_cloud.cli import main

text = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
               max_size=30)
names = st.one_of(text, st.from_regex(r"[a-z][a-z0-9-]{0,70}", fullmatch=True))
gpus = st.one_of(text, st.sampled_from(["t4", "a100:2", "t4:0", "a4000", "none", "h100:99"]),
                 st.from_regex(r"[a-z0-9-]{1,10}:-?[0-9]{1,3}", fullmatch=True))
durations = st.one_of(text, st.from_regex(r"[0-9]{1,4}[dhms]{1,2}", fullmatch=True))
providers = st.sampled_from(["local", "gcp", "aws", "paperspace", "nope", ""])
crons = st.one_of(text, st.sampled_from(["0 19 * * 1-5", "* * * * *", "0 0 31 2 *", "1 2 3"]))


def run(capsys, argv):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def check(code, err):
    assert "Traceback" not in err
    if code != 0:
        assert code == 2, (code, err)
        assert len(err.strip().splitlines()) == 1, err


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=names, gpu=gpus, idle=durations, provider=providers, stop=crons, tz=text,
       zone=text, spot=st.booleans())
def test_up_dry_run_never_crashes(capsys, name, gpu, idle, provider, stop, tz, zone, spot):
    argv = ["up", name, "--dry-run", "--gpu", gpu, "--idle-timeout", idle]
    argv += ["--provider", provider] if provider else []
    argv += ["--schedule-stop", stop, "--tz", tz] if stop else []
    argv += ["--zone", zone] if zone else []
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
