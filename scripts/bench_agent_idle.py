"""How soon nbctl's agent stops an idle machine: median seconds from the moment the last
kernel goes idle to the stop command, past the idle timeout, and how long the agent takes
from its launch to its first check (Python start-up included), over several runs.

    python scripts/bench_agent_idle.py [--runs 11] [--timeout 1] [--interval 0.2]

The agent's rule (tests/agent hold it to this in checks, not seconds): it stops at the first
check at which the machine has been idle for the timeout, so the stop comes at most one
interval past the timeout. The agent counts idleness from its last busy observation, up to
one interval before the kernel went idle, so the lateness lies between minus and plus one
interval. Target: the median within one interval.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

AGENT = Path(__file__).resolve().parents[1] / "orchestrator" / "runtime" / "nbctl_agent.py"
KERNEL = {"id": "k1", "name": "python3", "last_activity": "2026-01-01T00:00:00.000000Z",
          "connections": 0}


class Jupyter(BaseHTTPRequestHandler):
    """Just enough of Jupyter's REST API: one kernel, busy or idle as the bench says."""
    busy = True

    def log_message(self, *args):
        pass

    def do_GET(self):
        path = self.path.split("?")[0]
        kernels = [dict(KERNEL, execution_state="busy" if Jupyter.busy else "idle")]
        body = {"/api/status": {"last_activity": KERNEL["last_activity"]},
                "/api/kernels": kernels, "/api/terminals": []}.get(path)
        data = json.dumps(body).encode()
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def wait(predicate, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up after {timeout:g} s waiting for {what}")
        time.sleep(0.005)


def one_run(url: str, folder: Path, timeout: float, interval: float) -> tuple[float, float]:
    """(seconds from launch to the first check, seconds of lateness past the timeout)."""
    state, stopped = folder / "state.json", folder / "stopped"
    state.unlink(missing_ok=True)
    stopped.unlink(missing_ok=True)
    Jupyter.busy = True
    launched = time.time()
    agent = subprocess.Popen([sys.executable, str(AGENT), "--jupyter-url", url,
                              "--idle-timeout", str(timeout), "--interval", str(interval),
                              "--stop-command", f"date +%s.%N > {stopped}",
                              "--state-file", str(state)])
    try:
        wait(state.exists, "the agent's first check")
        first_check = time.time() - launched
        Jupyter.busy = False  # the cell ends now; the agent saw it busy at least once
        went_idle = time.time()
        wait(lambda: stopped.exists() and stopped.read_text().strip(), "the stop command")
        agent.wait(timeout=60)
    finally:
        agent.kill()
        agent.wait()
    return first_check, float(stopped.read_text()) - went_idle - timeout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=11)
    ap.add_argument("--timeout", type=float, default=1.0)
    ap.add_argument("--interval", type=float, default=0.2)
    args = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Jupyter)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    starts, late = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.runs):
            s, l_ = one_run(url, Path(tmp), args.timeout, args.interval)
            starts.append(s)
            late.append(l_)
    server.shutdown()
    print(f"agent launch to first check: median {statistics.median(starts):.3f} s "
          f"(max {max(starts):.3f} s) over {args.runs} runs, {os.cpu_count()} CPUs")
    print(f"stop after idle, past the {args.timeout:g} s timeout: median "
          f"{statistics.median(late):.3f} s (max {max(late):.3f} s); "
          f"target within one interval ({args.interval:g} s)")


if __name__ == "__main__":
    main()
