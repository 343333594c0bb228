"""The Colab Enterprise fake as a process, as CLI tests run it: one line when it listens, and
its control API (faults, busy runtimes, state) over HTTP."""
from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

from tests.conftest import REPO


def call(url, method="GET", body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def test_the_process_serves_the_api_and_its_controls():
    proc = subprocess.Popen([sys.executable, "-m", "tests.emulators.colab", "--port", "0"],
                            cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("listening on http://127.0.0.1:"), line
        url = line.split()[-1]
        call(f"{url}/_emulator/inject", "POST", {"method": "AssignNotebookRuntime",
                                                 "error": "stockout", "location": "us-east1"})
        listed = call(f"{url}/v1/projects/p/locations/us-east1/notebookRuntimeTemplates")
        assert listed == {}
        assert call(f"{url}/_emulator/counts") == {"ListNotebookRuntimeTemplates": 1}
        assert call(f"{url}/_emulator/state") == {"templates": [], "idleStops": [],
                                                  "runtimes": {}}
    finally:
        proc.terminate()
        proc.wait(timeout=60)
