"""`nbctl ui` on a Kaggle job: its attempts and log come from Kaggle's kernel versions, as
`nbctl jobs logs` reads them, and its hours are on the money page as in `nbctl cost`."""
from __future__ import annotations

import json
import re

import httpx
import pytest

from tests.conftest import run_nbctl, wait_for
from tests.kaggle.conftest import job_json, logs
from tests.ui.conftest import Dashboard

pytestmark = pytest.mark.slow


def test_the_job_page_shows_the_kaggle_attempts_and_their_log(env, workdir):
    done = run_nbctl("run", "kui", "--provider", "kaggle", "--gpu", "t4", "--workdir",
                     str(workdir), "-o", "json", "--", "python3", "train_numpy.py", "--steps",
                     "40", "--every", "10", "--step-time", "0.05", "--out", "w.npy", env=env)
    assert done.returncode == 0, done.stderr
    run_id = json.loads(done.stdout)["run_id"]

    def finished() -> bool:
        assert run_nbctl("controller", "--once", env=env).returncode == 0
        return job_json(env, run_id)["state"] == "SUCCEEDED"

    wait_for(finished, 180, step=1.0, what="the Kaggle job to finish")
    last_line = logs(env, run_id)[-1]["log"].strip().splitlines()[-1]
    ui = Dashboard(env=env)
    try:
        auth = {"Authorization": f"token {ui.token}"}
        page = httpx.get(f"{ui.base}/jobs/{run_id}?part=1", headers=auth, timeout=60).text
        assert "SUCCEEDED" in page and last_line in page
        assert re.search(r"<td>0</td><td>exited</td><td>0</td>", page)
        cost = json.loads(run_nbctl("cost", "--since", "1d", "-o", "json", env=env).stdout)
        money = httpx.get(f"{ui.base}/money?since=1d&part=1", headers=auth, timeout=60).text
        row = next(r for r in cost if r["name"] == run_id)
        assert f'<td class="hours">{row["hours"]}</td>' in money
    finally:
        ui.stop()
