"""`nbctl ui` in the system's Chromium: each page against the local provider and the emulated
Paperspace API, compared with what the CLI says about the same store."""
from __future__ import annotations

import json
import re
import sys
import textwrap

import pytest

from tests.conftest import wait_for
from tests.emulators.paperspace import Delays, PaperspaceEmulator

pytestmark = pytest.mark.slow


@pytest.fixture
def paperspace(monkeypatch):
    emulator = PaperspaceEmulator(delays=Delays(provision=0.3, start=0.15, stop=0.15,
                                                delete=0.1)).start()
    for key, value in emulator.env().items():
        monkeypatch.setenv(key, value)
    yield emulator
    emulator.stop()
    assert emulator.violations == [], "requests that do not fit the Paperspace API schema"


def made(nbctl, *ups: list[str]):
    for args in ups:
        r = nbctl("up", *args, "-o", "json")
        assert r.returncode == 0, r.stderr
    yield
    for args in ups:
        nbctl("down", args[0], "--yes")


LOC1 = ["loc1"]
PS1 = ["ps1", "--provider", "paperspace", "--gpu", "a4000"]


@pytest.fixture
def two_machines(nbctl, paperspace):
    """One local notebook and one Paperspace machine, made with the CLI."""
    yield from made(nbctl, LOC1, PS1)


@pytest.fixture
def local_machine(nbctl):
    yield from made(nbctl, LOC1)


@pytest.fixture
def cloud_machine(nbctl, paperspace):
    yield from made(nbctl, PS1)


def rows(page) -> dict[str, dict]:
    out = {}
    for tr in page.locator("#machines tr.machine").all():
        cell = {k: tr.locator(f".{k}").inner_text().strip()
                for k in ("name", "provider", "gpu", "zone", "spot", "state")}
        out[cell["name"]] = cell
    return out


def test_the_machines_page_shows_what_status_shows_and_the_money_page_what_cost_does(
        two_machines, nbctl, page, dashboard):
    """Two machines made once for both pages (each `up` costs seconds)."""
    status = json.loads(nbctl("status", "-o", "json").stdout)
    page.goto(page.url.split("?")[0])
    shown = rows(page)
    assert set(shown) == {s["name"] for s in status} == {"loc1", "ps1"}
    for s in status:
        assert shown[s["name"]] == {
            "name": s["name"], "provider": s["provider"], "gpu": s["gpu_label"],
            "zone": s["zone"] or "-", "spot": "yes" if s["preemptible"] else "no",
            "state": s["state"]}
    assert page.locator('tr[data-name="ps1"] .hourly').inner_text() != "-"  # priced
    assert shown["loc1"]["state"] == "RUNNING"  # its Jupyter says how long it has been idle
    assert re.fullmatch(r"\d+[smhd].*", page.locator('tr[data-name="loc1"] .idle-for')
                        .inner_text().strip())
    assert page.locator('tr[data-name="ps1"] .idle-for').inner_text().strip() == "-"

    # the money page: nbctl's costs, once both are stopped
    for name in ("ps1", "loc1"):  # nothing runs on: both figures stand still
        assert nbctl("stop", name).returncode == 0
    cost = json.loads(nbctl("cost", "--since", "7d", "-o", "json").stdout)
    page.goto(f"{dashboard.base}/money?since=7d")
    assert {r["name"] for r in cost} == {"loc1", "ps1"}
    shown = {tr.get_attribute("data-name"): tr for tr in page.locator("#cost tbody tr").all()}
    for r in cost:
        assert shown[r["name"]].locator(".hours").inner_text() == str(r["hours"])
        assert shown[r["name"]].locator(".cost").inner_text() == str(r["cost"])
    assert page.locator("#total-cost").inner_text() == f"${sum(r['cost'] for r in cost):.2f}"
    assert page.locator("#total-hours").inner_text() == f"{sum(r['hours'] for r in cost):.2f}"
    bars = page.locator("#daily-chart rect.bar")
    assert {b.get_attribute("data-provider") for b in bars.all()} == {"paperspace"}


def test_open_goes_to_the_notebook_as_nbctl_open_does_and_down_asks_again(local_machine, nbctl,
                                                                          page):
    """One local notebook for both (each start of Jupyter costs seconds): open, then down."""
    from nbctl_cloud.store import Store
    url = json.loads(nbctl("open", "loc1", "-o", "json").stdout)["url"]
    with page.context.expect_page() as opened:
        page.locator('tr[data-name="loc1"] button.open').click()
    notebook = opened.value
    notebook.wait_for_load_state()
    assert notebook.url.startswith(url.split("/lab")[0] + "/")  # the same Jupyter server
    assert "JupyterLab" in notebook.title() or "Jupyter" in notebook.content()

    # down asks again, and does nothing when refused
    asked = []
    page.once("dialog", lambda d: (asked.append(d.message), d.dismiss()))
    page.locator('tr[data-name="loc1"] button.down').click()
    wait_for(lambda: asked, 30, what="the confirmation")
    assert "Delete loc1" in asked[0]
    assert Store().get("loc1").instance.state.value == "RUNNING"
    page.once("dialog", lambda d: d.accept())
    page.locator('tr[data-name="loc1"] button.down').click()
    page.locator('tr[data-name="loc1"]').wait_for(state="detached")  # as `nbctl down` leaves it
    assert Store().get("loc1") is None


def test_clicking_stop_stops_the_machine_in_the_store_and_the_cloud(cloud_machine, nbctl, page,
                                                                   paperspace):
    from nbctl_cloud.registry import get_provider
    from nbctl_cloud.store import Store
    page.locator('tr[data-name="ps1"] button.stop').click()
    # the page follows it without a reload
    page.locator('tr[data-name="ps1"] .state', has_text="STOPPED").wait_for()
    assert Store().get("ps1").instance.state.value == "STOPPED"
    assert get_provider("paperspace").get("ps1").state.value == "STOPPED"
    assert "stop: done" in page.locator('tr[data-name="ps1"] .last').inner_text()


def test_the_refresh_button_reconciles_in_the_background(cloud_machine, nbctl, page, paperspace):
    from nbctl_cloud.registry import get_provider
    get_provider("paperspace").stop("ps1")  # behind nbctl's back: the store still says RUNNING
    wait_for(lambda: get_provider("paperspace").get("ps1").state.value == "STOPPED", 60,
             what="the machine to stop")
    page.locator("#refresh").click()
    page.locator('tr[data-name="ps1"] .state', has_text="STOPPED").wait_for()
    page.locator("#refresh-state", has_text="done at").wait_for()


TRAIN = textwrap.dedent("""
    import time
    from nbctl_cloud.runtime.checkpoint import Checkpointer
    ck = Checkpointer(keep=2)
    restored = ck.load_latest()
    step = restored.step if restored else 0
    print(f"starting at step {step}", flush=True)
    while True:
        time.sleep(0.05)
        step += 1
        if ck.preemption_requested:
            ck.save({"step": step}, step)
            ck.exit_preempted()
        if step % 5 == 0:
            ck.save({"step": step}, step)
            print(f"step {step}", flush=True)
""")


def preempt_and_recover(store, run_id: str) -> None:
    from nbctl_cloud import jobs
    from nbctl_cloud.registry import get_provider
    provider = get_provider("local")
    before = jobs.get(store, run_id)
    wait_for(lambda: jobs.read_log(before.spec, before.restarts) and "step 10" in
             jobs.read_log(before.spec, before.restarts), 120, what="some steps saved")
    provider.preempt(before.spec.instance.name, notice_seconds=1.0)

    def recovered() -> bool:
        job = jobs.step(store, jobs.get(store, run_id), provider)
        return job.restarts == before.restarts + 1 and job.state.value == "RUNNING"

    wait_for(recovered, 180, step=0.5, what="the job to restart after its preemption")


@pytest.fixture
def preempted_twice(nbctl, tmp_path):
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "train.py").write_text(TRAIN)
    r = nbctl("run", "job1", "--preemptible", "--max-restarts", "5", "--checkpoint-url",
              str(tmp_path / "ck"), "--workdir", str(tmp_path / "work"), "-o", "json", "--",
              sys.executable, "train.py")  # a Python with fsspec, as a machine's has
    assert r.returncode == 0, r.stderr
    run_id = json.loads(r.stdout)["run_id"]
    from nbctl_cloud.store import Store
    store = Store()
    preempt_and_recover(store, run_id)
    preempt_and_recover(store, run_id)
    yield run_id
    nbctl("jobs", "cancel", run_id)
    nbctl("down", "job1", "--yes")


def test_the_job_chart_marks_both_preemptions_and_the_log_follows(preempted_twice, nbctl, page,
                                                                   dashboard):
    run_id = preempted_twice
    job = json.loads(nbctl("jobs", "status", run_id, "-o", "json").stdout)
    assert job["preemptions"] == 2
    page.goto(f"{dashboard.base}/jobs")
    row = page.locator(f'tr[data-run-id="{run_id}"]')
    assert row.locator(".preemptions").inner_text() == "2"
    assert row.locator(".restarts").inner_text() == "2"
    row.locator("a").click()
    chart = page.locator("#step-chart svg")
    chart.wait_for()
    assert chart.locator("line.mark.preemption").count() == 2
    assert chart.locator("line.mark.restart").count() == 2
    assert sorted(chart.locator("line.mark.preemption").evaluate_all(
        "els => els.map(e => e.dataset.attempt)")) == ["0", "1"]
    assert chart.locator("polyline.steps").count() == 3  # the steps of each attempt
    # the log's tail follows the running attempt without a reload
    first = page.locator("#log").inner_text()
    assert "attempt 2" in first and "starting at step" in first
    wait_for(lambda: page.locator("#log").inner_text() != first, 60, step=0.5,
             what="the log to grow")
