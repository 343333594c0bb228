"""How fast a preempted job runs again on (emulated) Compute Engine.

    python scripts/bench_recovery_gcp.py [--preemptions 5] [--poll-interval 1] [--seed 0]

Starts the GCP emulator with VMs that run their start-up script for real, runs
`nbctl run --provider gcp --preemptible --follow -- python3 scripts/examples/train_numpy.py`
through the real CLI, and preempts the VM at random points, once per attempt. For each
preemption it reports, from the records themselves:

  recovery = (new attempt's status `started_at`) - (the `compute.instances.preempted`
             operation's endTime: the power-off at the end of the notice window)
             - (emulated boot: the start request until RUNNING)

split into detect+restart calls (preempted -> start asked), boot, and job start (RUNNING -> the
job's wrapper running). Target: median recovery under 10 s. The job's final weights are checked
against an uninterrupted run. --poll-interval sets NBCTL_POLL_INTERVAL (how often nbctl polls
while waiting for RUNNING; the provider's default is 5 s); `nbctl run --follow` checks the job
every second.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import random
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.emulators.gcp import Delays, GcpEmulator  # noqa: E402  (needs the repo on the path)

TRAIN = REPO / "scripts" / "examples" / "train_numpy.py"
ZONE = "us-central1-a"
NAME = "bench-recovery"


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def status(ck: Path, restart: int) -> dict | None:
    for path in glob.glob(str(ck / "_nbctl" / "*" / f"status-{restart}.json")):
        try:
            return json.loads(Path(path).read_text())
        except (OSError, ValueError):
            return None
    return None


def wait_running(proc: subprocess.Popen, ck: Path, restart: int, timeout: float) -> dict | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        st = status(ck, restart)
        if st and st.get("state") == "running":
            return st
        time.sleep(0.02)
    return None


def reference(train_args: list[str], work: Path) -> bytes:
    out = work / "reference.npy"
    env = dict(os.environ, NBCTL_CHECKPOINT_URL=str(work / "reference-ck"))
    subprocess.run([sys.executable, str(TRAIN), *train_args, "--out", str(out)], env=env,
                   check=True, capture_output=True, timeout=600)
    return out.read_bytes()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preemptions", type=int, default=5)
    ap.add_argument("--poll-interval", type=float, default=1.0)
    ap.add_argument("--notice", type=float, default=1.0, help="seconds of preemption notice")
    ap.add_argument("--provision-delay", type=float, default=0.3,
                    help="emulated boot: STAGING to RUNNING takes half of this")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)

    steps = 300 * (args.preemptions + 1)
    train_args = ["--steps", str(steps), "--every", "20", "--step-time", "0.01"]
    work = Path(tempfile.mkdtemp(prefix="nbctl-bench-recovery-"))
    ck, out = work / "ck", work / "weights.npy"
    emu = GcpEmulator(delays=Delays(operation=0.05, provision=args.provision_delay, stop=0.1,
                                    delete=0.1, notice=args.notice), run_vms=True).start()
    env = dict(os.environ, NBCTL_HOME=str(work / "home"), NBCTL_OWNER="bench",
               NBCTL_POLL_INTERVAL=str(args.poll_interval), NBCTL_RETRY_SCALE="0.01",
               PYTHONPATH=str(REPO), **emu.env())
    cmd = [sys.executable, "-m", "nbctl_cloud", "run", NAME, "--provider", "gcp", "--gpu", "t4",
           "--preemptible", "--zone", ZONE, "--checkpoint-url", ck.as_uri(),
           "--max-restarts", str(args.preemptions + 2), "--follow", "--output", "json", "--",
           "python3", str(TRAIN), *train_args, "--out", str(out)]
    rows = []
    try:
        expected = reference(train_args, work)
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        for restart in range(args.preemptions):
            if wait_running(proc, ck, restart, timeout=120) is None:
                print(f"attempt {restart} never ran", file=sys.stderr)
                break
            time.sleep(rng.uniform(0.5, 2.5))
            emu.preempt(NAME, ZONE)
            after = wait_running(proc, ck, restart + 1, timeout=120)
            if after is None:
                print(f"attempt {restart + 1} never ran", file=sys.stderr)
                break
            with emu.clock.lock:
                ops = [o for o in emu.compute.operations.values()
                       if o["operationType"] == "compute.instances.preempted"]
                boots = list(emu.compute.boots)
            marked = max(epoch(o.get("endTime") or o["insertTime"]) for o in ops)
            boot = next(b for b in boots if b["asked"] >= marked)
            rows.append({"detect": boot["asked"] - marked, "boot": boot["running"] - boot["asked"],
                         "job_start": after["started_at"] - boot["running"],
                         "recovery": after["started_at"] - marked - (boot["running"] - boot["asked"])})
        stdout, stderr = proc.communicate(timeout=600)
        job = json.loads(stdout) if proc.returncode == 0 else {"state": "FAILED", "detail": stderr[-2000:]}
    finally:
        subprocess.run([sys.executable, "-m", "nbctl_cloud", "down", NAME, "--yes"], cwd=REPO,
                       env=env, capture_output=True, timeout=120)
        emu.stop()

    same = out.exists() and out.read_bytes() == expected
    print("reproduce: python scripts/bench_recovery_gcp.py " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])))
    print(f"settings: notice {args.notice}s, emulated provision {args.provision_delay}s, "
          f"NBCTL_POLL_INTERVAL {args.poll_interval}s, nbctl run --follow checks every 1s")
    print(f"{'preemption':>10}  {'detect+start':>12}  {'boot':>6}  {'job start':>9}  {'recovery':>8}")
    for i, r in enumerate(rows, 1):
        print(f"{i:>10}  {r['detect']:>11.2f}s  {r['boot']:>5.2f}s  {r['job_start']:>8.2f}s  "
              f"{r['recovery']:>7.2f}s")
    if rows:
        med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
        print(f"{'median':>10}  {med['detect']:>11.2f}s  {med['boot']:>5.2f}s  "
              f"{med['job_start']:>8.2f}s  {med['recovery']:>7.2f}s   (n={len(rows)})")
        print(f"median recovery excluding boot: {med['recovery']:.2f}s "
              f"({'under' if med['recovery'] < 10 else 'OVER'} the 10 s target), "
              f"preemptions measured: {len(rows)}")
    print(f"job: {job.get('state')}, restarts {job.get('restarts')}, final weights "
          f"{'identical to' if same else 'DIFFERENT from'} the uninterrupted run")
    return 0 if rows and same and job.get("state") == "SUCCEEDED" else 1


if __name__ == "__main__":
    sys.exit(main())
