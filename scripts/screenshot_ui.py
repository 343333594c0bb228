"""Screenshots of `nbctl ui` for the README: a demo store with a week of history, the dashboard
on it, and one PNG per page in scripts/screenshots/ (machines, job, money).

    python scripts/screenshot_ui.py [--out scripts/screenshots] [--chromium /usr/bin/chromium]

Needs the `ui` and `test` extras (Playwright) and a Chromium (Debian: `apt-get install
chromium`). The demo lives in a temporary NBCTL_HOME; nothing of yours is read or touched. Its
history is written through the store's own verbs under a clock set back a week, as if the
machines, schedules and a twice-preempted job had lived it.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DAY = 86400.0


def write_demo(home: Path, ckpt: Path) -> str:
    """The demo store under `home`; returns the job's run id."""
    os.environ["NBCTL_HOME"] = str(home)
    home.mkdir(parents=True)
    (home / "config.toml").write_text('[providers.gcp]\nproject = "demo-project"\n'
                                      'zone = "us-central1-a"\n[providers.aws]\n'
                                      'region = "us-east-1"\n')
    real_time = time.time
    clock = [real_time() - 7 * DAY]
    time.time = lambda: clock[0]  # the store stamps every row with time.time()
    from nbctl_cloud.model import Instance, InstanceSpec, JobSpec, JobState, Schedule, State
    from nbctl_cloud.store import Store
    store = Store()

    def at(t: float) -> None:
        clock[0] = t

    def put(name, provider, state, gpu, zone, spot=False, idle=None, backend=None, detail=None):
        count = 0 if gpu == "none" else 1
        spec = InstanceSpec(name=name, provider=provider, gpu=gpu, gpu_count=count,
                            preemptible=spot, zones=(zone,), idle_timeout=idle)
        store.save(Instance(name=name, provider=provider, state=State(state), zone=zone,
                            gpu=gpu, gpu_count=count, preemptible=spot, backend=backend,
                            detail=detail), spec)

    start = clock[0] - clock[0] % DAY
    for day in range(8):  # a Workbench notebook on a weekday schedule, Berlin time
        base = start + day * DAY
        at(base + 7 * 3600)
        put("nb-gcp", "gcp", "RUNNING", "t4", "us-central1-a", backend="workbench",
            detail="ACTIVE")
        if base + 18 * 3600 < real_time():
            at(base + 18 * 3600)
            store.record_event("nb-gcp", "stop", provider="gcp", detail="schedule 0 19 * * 1-5")
            put("nb-gcp", "gcp", "STOPPED", "t4", "us-central1-a", backend="workbench",
                detail="STOPPED")
    store.save_schedule("nb-gcp", "gcp", Schedule(tz="Europe/Berlin", stop="0 19 * * 1-5",
                                                  start="0 8 * * 1-5"), "scheduler")
    for day in range(1, 7):  # a spot instance that the idle rule stops each afternoon
        at(start + day * DAY + 9 * 3600)
        put("sp-aws", "aws", "RUNNING", "a10g", "us-east-1a", spot=True, idle=2700,
            backend="ec2", detail="running")
        at(start + day * DAY + 15 * 3600)
        store.record_event("sp-aws", "stop", provider="aws", detail="idle for 45m")
        put("sp-aws", "aws", "STOPPED", "a10g", "us-east-1a", spot=True, idle=2700,
            backend="ec2", detail="stopped")
    at(real_time() - 2 * DAY)
    put("ps1", "paperspace", "RUNNING", "a4000", "ny2", detail="ready")
    at(real_time() - 3 * 3600)
    put("demo", "local", "RUNNING", "none", "localhost")

    t0 = real_time() - 1500
    at(t0)
    put("train1", "local", "RUNNING", "none", "localhost", spot=True)
    spec = JobSpec(run_id="train1-demo", instance=InstanceSpec(
        name="train1", provider="local", preemptible=True), command=["python", "train.py"],
        checkpoint_url=str(ckpt), max_restarts=5)
    store.add_job(spec, "local")
    status = Path(spec.status_url)
    status.mkdir(parents=True)
    attempts = [(t0, t0 + 500, 0, 1000), (t0 + 530, t0 + 1000, 1000, 1900),
                (t0 + 1030, None, 1900, 2600)]
    for n, (began, ended, first, last) in enumerate(attempts):
        points = [(began + (s - first) * (((ended or real_time()) - began) / (last - first)), s)
                  for s in range(first + 100, last + 1, 100)]
        (status / f"steps-{n}.json").write_text(json.dumps({"points": points}))
        record = {"run_id": spec.run_id, "restart": n, "host": "demo", "started_at": began,
                  "state": "running", "heartbeat_at": real_time()}
        if ended:
            record.update(state="exited", exit_code=85, signal="SIGTERM", signalled_at=ended - 5,
                          ended_at=ended)
        (status / f"status-{n}.json").write_text(json.dumps(record))
        if n:
            at(began)
            store.claim_restart(spec.run_id, n - 1, preempted=True)
    (status / "log-2.txt").write_text(f"restart 2: starting at step {attempts[2][2]}\n" + "".join(
        f"step {s}: loss {1.0 / (1 + s / 400):.4f}\n" for s in range(1900, 2601, 50)))
    at(real_time())
    store.update_job(spec.run_id, state=JobState.RUNNING, started_at=t0 + 1030)
    time.time = real_time
    return spec.run_id


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(REPO / "scripts" / "screenshots"),
                    help="folder for the PNGs")
    ap.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        run_id = write_demo(Path(tmp) / "home", Path(tmp) / "ckpt")
        env = dict(os.environ, NBCTL_HOME=str(Path(tmp) / "home"), PYTHONUNBUFFERED="1")
        ui = subprocess.Popen([sys.executable, "-m", "nbctl_cloud", "ui", "--no-browser"],
                              stdout=subprocess.PIPE, text=True, env=env)
        try:
            url = None
            for line in ui.stdout:
                m = re.search(r"http://\S+\?token=\S+", line)
                if m:
                    url = m.group(0)
                    break
            if url is None:
                raise SystemExit("nbctl ui printed no URL")
            base = url.split("/?")[0]
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=args.chromium, headless=True,
                                            args=["--no-sandbox", "--disable-gpu"])
                page = browser.new_page(viewport={"width": 1360, "height": 760})
                page.goto(url)
                for name, path in (("machines", "/machines"), ("job", f"/jobs/{run_id}"),
                                   ("money", "/money?since=7d")):
                    page.goto(base + path)
                    page.wait_for_load_state("networkidle")
                    page.screenshot(path=str(out / f"ui-{name}.png"), full_page=True)
                    print(f"wrote {out / f'ui-{name}.png'}")
                browser.close()
        finally:
            ui.terminate()
            ui.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
