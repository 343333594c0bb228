"""The fake Kaggle API, through kagglesdk's own client: pushed script versions run for real, in
a folder laid out like Kaggle's, within a scaled session limit, with their output, log and the
user's GPU quota served as kagglesdk reads them."""
from __future__ import annotations

import json
import os
import signal
import textwrap
from datetime import datetime, timedelta, timezone

import pytest
import requests

from tests.conftest import wait_for
from tests.kaggle.conftest import USER

pytestmark = pytest.mark.slow

# A script that tells where Kaggle's folders are from NBCTL_ROOT (the sandbox's prefix).
PRELUDE = textwrap.dedent("""\
    import os, pathlib, sys, time
    ROOT = pathlib.Path(os.environ["NBCTL_ROOT"])
    WORKING, INPUT = ROOT / "kaggle/working", ROOT / "kaggle/input"

    def wait_for_file(name):
        while not (WORKING / name).exists():
            time.sleep(0.05)
    """)


def _api(client):
    return client.kernels.kernels_api_client


def push(client, slug: str, body: str, *, shape: str | None = "NvidiaTeslaT4",
         sources: list[str] = (), **fields):
    from kagglesdk.kernels.types.kernels_api_service import ApiSaveKernelRequest

    request = ApiSaveKernelRequest()
    request.slug = f"{USER}/{slug}"
    request.new_title = slug.replace("-", " ")
    request.text = PRELUDE + textwrap.dedent(body)
    request.language = "python"
    request.kernel_type = "script"
    request.is_private = True
    request.enable_gpu = shape is not None
    request.enable_internet = False
    request.machine_shape = shape
    request.kernel_data_sources = list(sources)
    for name, value in fields.items():
        setattr(request, name, value)
    return _api(client).save_kernel(request)


def status_of(client, slug: str, version: int | None = None):
    from kagglesdk.kernels.types.kernels_api_service import ApiGetKernelSessionStatusRequest

    request = ApiGetKernelSessionStatusRequest()
    request.user_name, request.kernel_slug = USER, slug
    if version is not None:
        request.version_label = str(version)
    return _api(client).get_kernel_session_status(request)


def wait_status(client, slug: str, *names: str, version: int | None = None, timeout=60.0):
    wait_for(lambda: status_of(client, slug, version).status.name in names, timeout,
             what=f"{slug} to be {' or '.join(names)}")
    return status_of(client, slug, version)


def output_of(client, slug: str, version: int | None = None):
    from kagglesdk.kernels.types.kernels_api_service import ApiListKernelSessionOutputRequest

    request = ApiListKernelSessionOutputRequest()
    request.user_name, request.kernel_slug = USER, slug
    if version is not None:
        request.version_label = str(version)
    return _api(client).list_kernel_session_output(request)


def quota(client):
    from kagglesdk.kernels.types.kernels_api_service import (
        ApiGetAcceleratorQuotaStatisticsRequest)

    return _api(client).get_accelerator_quota_statistics(ApiGetAcceleratorQuotaStatisticsRequest())


def downloads(response) -> dict[str, bytes]:
    """Each output file by name, fetched as the kaggle CLI fetches it: a plain GET of its url."""
    return {f.file_name: requests.get(f.url, timeout=30).content for f in response.files}


def stdout_of(response) -> str:
    return "".join(e["data"] for e in json.loads(response.log) if e["stream_name"] == "stdout")


def test_a_pushed_script_runs_then_its_output_and_log_are_served(fake, kaggle):
    saved = push(kaggle, "first-run", """\
        print("hello from the kernel", flush=True)
        (WORKING / "result.txt").write_text("42")
        (WORKING / "model").mkdir()
        (WORKING / "model" / "weights.bin").write_bytes(bytes(range(256)))
        wait_for_file("go")
        (WORKING / "go").unlink()
        """)
    assert not saved.error and saved.version_number == 1 and saved.kernel_id
    assert wait_status(kaggle, "first-run", "RUNNING").status.name == "RUNNING"
    (fake.session(USER, "first-run").working / "go").write_text("")
    assert wait_status(kaggle, "first-run", "COMPLETE", "ERROR").status.name == "COMPLETE"
    output = output_of(kaggle, "first-run")
    assert downloads(output) == {"result.txt": b"42", "model/weights.bin": bytes(range(256))}
    assert stdout_of(output) == "hello from the kernel\n"


def test_the_script_runs_in_kaggles_layout_without_nbctl_or_the_callers_secrets(
        fake, kaggle, monkeypatch):
    monkeypatch.setenv("KAGGLE_KEY", "must-not-reach-the-kernel")
    push(kaggle, "layout", """\
        import importlib.util
        print(os.getcwd() == str(WORKING), (ROOT / "kaggle/src/script.py").is_file())
        print(os.environ["KAGGLE_KERNEL_RUN_TYPE"], "KAGGLE_KEY" in os.environ)
        print(importlib.util.find_spec("nbctl_cloud") is None,  # the image has numpy, no nbctl
              importlib.util.find_spec("numpy") is not None)
        """, shape=None)
    assert wait_status(kaggle, "layout", "COMPLETE", "ERROR").status.name == "COMPLETE"
    assert stdout_of(output_of(kaggle, "layout")) == "True True\nBatch False\nTrue True\n"


def test_a_script_that_outlives_the_session_limit_is_stopped_and_keeps_its_output(
        make_fake, client_for):
    fake = make_fake(hour_seconds=0.25, grace_seconds=2.0)  # 12 GPU hours: 3 s
    kaggle = client_for(fake)
    push(kaggle, "too-long", """\
        import signal
        def on_term(signum, frame):
            (WORKING / "sigterm.txt").write_text("asked to stop")
        signal.signal(signal.SIGTERM, on_term)
        (WORKING / "checkpoint.txt").write_text("step 1")
        print("checkpoint written", flush=True)
        while True:
            time.sleep(0.05)  # past SIGTERM too: SIGKILL ends it
        """)
    session = fake.session(USER, "too-long")
    ended = wait_status(kaggle, "too-long", "COMPLETE", "ERROR")
    assert ended.status.name == "ERROR" and ended.failure_message
    assert session.elapsed() >= 3.0 and session.exit_code == -signal.SIGKILL
    output = output_of(kaggle, "too-long")
    assert downloads(output) == {"checkpoint.txt": b"step 1", "sigterm.txt": b"asked to stop"}
    assert stdout_of(output) == "checkpoint written\n"


def test_a_session_timeout_shorter_than_the_limit_is_kept(make_fake, client_for):
    fake = make_fake(hour_seconds=3.6)  # 1000 s of Kaggle's time: 1 s here
    kaggle = client_for(fake)
    push(kaggle, "own-timeout", "while True:\n    time.sleep(0.05)\n",
         session_timeout_seconds=1000)
    assert wait_status(kaggle, "own-timeout", "COMPLETE", "ERROR").status.name == "ERROR"
    assert fake.session(USER, "own-timeout").elapsed() >= 1.0


def test_a_new_version_sees_the_previous_versions_output_under_kaggle_input(fake, kaggle):
    push(kaggle, "chain", """\
        (WORKING / "ckpt").mkdir()
        (WORKING / "ckpt" / "state.txt").write_text("step=5")
        """)
    assert wait_status(kaggle, "chain", "COMPLETE", "ERROR").status.name == "COMPLETE"
    saved = push(kaggle, "chain", """\
        state = (INPUT / "chain" / "ckpt" / "state.txt").read_text()
        print("resumed from", state)
        (WORKING / "ckpt").mkdir()
        (WORKING / "ckpt" / "state.txt").write_text(state + ",step=6")
        """, sources=[f"{USER}/chain"])
    assert saved.version_number == 2 and not saved.invalid_kernel_sources
    assert wait_status(kaggle, "chain", "COMPLETE", "ERROR").status.name == "COMPLETE"
    assert downloads(output_of(kaggle, "chain")) == {"ckpt/state.txt": b"step=5,step=6"}
    assert stdout_of(output_of(kaggle, "chain", version=2)) == "resumed from step=5\n"
    assert downloads(output_of(kaggle, "chain", version=1)) == {"ckpt/state.txt": b"step=5"}


def test_a_source_with_no_complete_version_is_reported_invalid_and_not_mounted(fake, kaggle):
    push(kaggle, "failed", "(WORKING / 'partial.txt').write_text('x')\nsys.exit(3)\n")
    ended = wait_status(kaggle, "failed", "COMPLETE", "ERROR")
    assert ended.status.name == "ERROR" and ended.failure_message
    saved = push(kaggle, "next", "print(sorted(p.name for p in INPUT.iterdir()))\n",
                 sources=[f"{USER}/failed", f"{USER}/no-such-kernel"])
    assert not saved.error and saved.invalid_kernel_sources == [f"{USER}/failed",
                                                                f"{USER}/no-such-kernel"]
    wait_status(kaggle, "next", "COMPLETE", "ERROR")
    assert stdout_of(output_of(kaggle, "next")) == "[]\n"


def test_gpu_quota_grows_with_gpu_time_and_not_with_cpu_time(make_fake, client_for):
    fake = make_fake(hour_seconds=0.5)
    kaggle = client_for(fake)
    before = quota(kaggle)
    assert before.gpu_quota.total_time_allowed > timedelta(hours=1)
    assert not before.gpu_quota.time_used and not before.gpu_quota.has_ever_run
    assert before.quota_refresh_time > datetime.now(timezone.utc).replace(tzinfo=None)
    push(kaggle, "cpu-run", "time.sleep(1)\n", shape=None)
    wait_status(kaggle, "cpu-run", "COMPLETE", "ERROR")
    assert not quota(kaggle).gpu_quota.time_used
    push(kaggle, "gpu-run", "time.sleep(1)\n")
    wait_status(kaggle, "gpu-run", "COMPLETE", "ERROR")
    after = quota(kaggle).gpu_quota
    assert after.time_used >= timedelta(hours=2) and after.has_ever_run  # 1 s = 2 h here
    assert after.total_time_allowed == before.gpu_quota.total_time_allowed


def test_a_used_up_quota_stops_the_session_refuses_a_push_until_it_refreshes(
        make_fake, client_for):
    fake = make_fake(hour_seconds=0.5)
    fake.set_quota(gpu_hours=2)  # 1 s of GPU time here
    kaggle = client_for(fake)
    push(kaggle, "quota", "while True:\n    time.sleep(0.05)\n")
    ended = wait_status(kaggle, "quota", "COMPLETE", "ERROR")
    assert ended.status.name == "ERROR" and ended.failure_message
    assert quota(kaggle).gpu_quota.time_used >= timedelta(hours=2)
    refused = push(kaggle, "quota", "print('again')\n")
    assert refused.error and not refused.version_number
    fake.refresh_quota()
    assert not quota(kaggle).gpu_quota.time_used
    again = push(kaggle, "quota", "print('again')\n")
    assert not again.error and again.version_number == 2


def test_the_quota_refreshes_by_itself_at_the_refresh_time_it_reports(make_fake, client_for):
    fake = make_fake(hour_seconds=0.5)
    fake.set_quota(gpu_hours=1, refresh_in=3600)  # 0.5 s of GPU time here
    kaggle = client_for(fake)
    push(kaggle, "weekly", "while True:\n    time.sleep(0.05)\n")
    wait_status(kaggle, "weekly", "COMPLETE", "ERROR")
    assert push(kaggle, "weekly", "print('again')\n").error
    fake.set_quota(refresh_in=1.0)
    refresh = quota(kaggle).quota_refresh_time
    wait_for(lambda: datetime.now(timezone.utc).replace(tzinfo=None) > refresh, 30,
             what="the reported refresh time")
    assert not quota(kaggle).gpu_quota.time_used
    assert quota(kaggle).quota_refresh_time > refresh  # the next week's
    assert push(kaggle, "weekly", "print('again')\n").version_number == 2


def test_a_cancel_stops_the_session_with_sigterm_then_acknowledges(fake, kaggle):
    from kagglesdk.kernels.types.kernels_api_service import ApiCancelKernelSessionRequest

    saved = push(kaggle, "cancel-me", """\
        import signal
        signal.signal(signal.SIGTERM, lambda *a: (WORKING / "bye.txt").write_text("bye"))
        while True:
            time.sleep(0.05)
        """)
    wait_status(kaggle, "cancel-me", "RUNNING")
    request = ApiCancelKernelSessionRequest()
    request.kernel_session_id = int(saved.url.rsplit("scriptVersionId=", 1)[1])
    assert not _api(kaggle).cancel_kernel_session(request).error_message
    assert wait_status(kaggle, "cancel-me", "CANCEL_ACKNOWLEDGED").status.name == \
        "CANCEL_ACKNOWLEDGED"
    assert downloads(output_of(kaggle, "cancel-me")) == {"bye.txt": b"bye"}


def test_deleting_a_kernel_kills_its_running_session_and_forgets_it(fake, kaggle):
    from kagglesdk.kernels.types.kernels_api_service import ApiDeleteKernelRequest

    push(kaggle, "delete-me", "while True:\n    time.sleep(0.05)\n")
    wait_status(kaggle, "delete-me", "RUNNING")
    session = fake.session(USER, "delete-me")
    request = ApiDeleteKernelRequest()
    request.user_name, request.kernel_slug = USER, "delete-me"
    _api(kaggle).delete_kernel(request)
    with pytest.raises(requests.HTTPError) as refused:
        status_of(kaggle, "delete-me")
    assert refused.value.response.status_code == 404
    wait_for(lambda: not session.live, 30, what="the deleted kernel's session to end")
    wait_for(lambda: not session.root.exists(), 30, what="its folder to go")
    with pytest.raises(ProcessLookupError):
        os.killpg(session.proc.pid, 0)


@pytest.mark.parametrize("credentials", [
    {"username": USER, "password": "wrong-key"},
    {"username": "someone-else", "password": "kg-test-key"},
    {"api_token": "not-a-token"},
])
def test_bad_credentials_are_refused_401(fake, client_for, credentials):
    with pytest.raises(requests.HTTPError) as refused:
        quota(client_for(fake, **credentials))
    assert refused.value.response.status_code == 401
    assert fake.kernels == {}


def test_an_access_token_is_taken_as_bearer(fake, client_for):
    assert quota(client_for(fake, api_token="kgat-token")).gpu_quota.total_time_allowed
    assert fake.calls("GetAcceleratorQuotaStatistics")[-1]["user"] == USER


def test_an_unknown_accelerator_is_refused_and_nothing_runs(fake, kaggle):
    saved = push(kaggle, "bad-shape", "print('never')\n", shape="NvidiaGeForce1080")
    assert saved.error and not saved.version_number
    assert fake.kernels == {}


def test_an_unknown_field_or_method_is_refused_in_kaggles_error_shape(fake):
    url = f"{fake.url}/api/v1/kernels.KernelsApiService"
    auth = (USER, "kg-test-key")
    unknown_field = requests.post(f"{url}/SaveKernel", json={"slug": f"{USER}/x",
                                                             "accelerator": "gpu"}, auth=auth)
    unknown_method = requests.post(f"{url}/RunEverything", json={}, auth=auth)
    assert unknown_field.status_code == 400 and unknown_field.json()["code"] == 400
    assert "accelerator" in unknown_field.json()["message"]
    assert unknown_method.status_code == 404 and unknown_method.json()["code"] == 404
    assert fake.kernels == {}
    assert len(fake.violations) == 1
    fake.violations.clear()  # expected here; any other test fails on one
