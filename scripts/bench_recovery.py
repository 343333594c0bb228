"""How fast a preempted job runs again on (emulated) Compute Engine or EC2, and what it loses.

    python scripts/bench_recovery.py --provider gcp [--preemptions 5] [--poll-interval 1]
    python scripts/bench_recovery.py --provider aws [--preemptions 5] [--poll-interval 1]

Starts the cloud's emulator with machines that run their boot script for real, runs
`nbctl run --provider P --preemptible --follow -- python3 scripts/examples/train_numpy.py`
through the real CLI, and preempts the machine at random points, once per attempt, with a
notice (GCE: the preemption's soft-off window; EC2: the spot interruption notice, then EC2
itself restarts the instance at once, as when capacity returns). For each preemption it
reports, from the records themselves:

  recovery = (new attempt's status `started_at`) - (the machine taken: GCE's
             `compute.instances.preempted` operation's endTime; EC2: the instance seen stopped)
             - (emulated boot: the start until RUNNING)

split into detect+restart (taken -> the start), boot, and job start (RUNNING -> the job's
wrapper running), and the steps lost: the step the attempt reached ("preempted: saved step N")
minus the step the next one started at. Target: median recovery under 10 s, 0 steps lost with
notice. The job's final weights are checked against an uninterrupted run. --poll-interval sets
NBCTL_POLL_INTERVAL (how often nbctl polls while waiting for RUNNING); `nbctl run --follow`
checks the job every second.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import random
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

TRAIN = REPO / "scripts" / "examples" / "train_numpy.py"
ZONES = {"gcp": "us-central1-a", "aws": "us-east-1a"}
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


def log(ck: Path, restart: int) -> str:
    for path in glob.glob(str(ck / "_nbctl" / "*" / f"log-{restart}.txt")):
        return Path(path).read_text(errors="replace")
    return ""


def lost_steps(ck: Path, restart: int) -> int | None:
    """Steps attempt `restart` reached that attempt `restart + 1` did again; None if unknown
    (the attempt was killed before it could say how far it got)."""
    saved = re.findall(r"preempted: saved step (\d+)", log(ck, restart))
    started = re.findall(r"starting at step (\d+)", log(ck, restart + 1))
    if not saved or not started:
        return None
    return int(saved[-1]) - int(started[-1])


class Gcp:
    def __init__(self, args):
        from tests.emulators.gcp import Delays, GcpEmulator
        self.emu = GcpEmulator(delays=Delays(operation=0.05, provision=args.provision_delay,
                                             stop=0.1, delete=0.1, notice=args.notice),
                               run_vms=True).start()
        self.env = self.emu.env()

    def preempt(self, args) -> dict:
        """Preempt the VM; (taken, start asked, running) epochs of this preemption."""
        self.emu.preempt(NAME, ZONES["gcp"])
        return {}

    def times(self) -> tuple[float, float, float]:
        with self.emu.clock.lock:
            ops = [o for o in self.emu.compute.operations.values()
                   if o["operationType"] == "compute.instances.preempted"]
            boots = list(self.emu.compute.boots)
        taken = max(epoch(o.get("endTime") or o["insertTime"]) for o in ops)
        boot = next(b for b in boots if b["asked"] >= taken)
        return taken, boot["asked"], boot["running"]

    def stop(self):
        self.emu.stop()


class Aws:
    def __init__(self, args):
        import boto3

        from tests.emulators.aws import AwsEmulator, Delays
        self.emu = AwsEmulator(delays=Delays(provision=args.provision_delay, stop=0.1,
                                             delete=0.1), run_instances=True).start()
        self.env = self.emu.env()
        os.environ.update(self.env)
        self.emu.seed_dlami()
        self.ec2 = boto3.client("ec2")
        self.record: dict = {}

    def instance(self) -> dict:
        found = self.ec2.describe_instances(Filters=[
            {"Name": "tag:nbctl-name", "Values": [NAME]},
            {"Name": "instance-state-name", "Values": ["pending", "running", "stopping",
                                                       "stopped"]}])
        return next(i for r in found["Reservations"] for i in r["Instances"])

    def preempt(self, args) -> None:
        """The interruption notice; once EC2 has stopped the instance, capacity returns at
        once and EC2 restarts it (in a thread: the bench goes on watching the job)."""
        iid = self.instance()["InstanceId"]
        self.emu.interrupt_spot(iid, notice=args.notice)

        def watch():
            while self.instance()["State"]["Name"] != "stopped":
                time.sleep(0.02)
            taken = time.time()
            self.emu.spot_capacity_returns(iid)
            asked = time.time()
            while self.instance()["State"]["Name"] != "running":
                time.sleep(0.02)
            self.record = {"taken": taken, "asked": asked, "running": time.time()}
        self.record = {}
        threading.Thread(target=watch, daemon=True).start()

    def times(self) -> tuple[float, float, float]:
        while not self.record:
            time.sleep(0.02)
        return self.record["taken"], self.record["asked"], self.record["running"]

    def stop(self):
        self.emu.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--provider", choices=sorted(ZONES), default="gcp")
    ap.add_argument("--preemptions", type=int, default=5)
    ap.add_argument("--poll-interval", type=float, default=1.0)
    ap.add_argument("--notice", type=float, default=6.0,
                    help="seconds of notice (the agent polls every 5 s)")
    ap.add_argument("--provision-delay", type=float, default=0.3,
                    help="emulated boot: the start until RUNNING")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)

    steps = 300 * (args.preemptions + 1)
    train_args = ["--steps", str(steps), "--every", "20", "--step-time", "0.01"]
    work = Path(tempfile.mkdtemp(prefix="nbctl-bench-recovery-"))
    ck, out = work / "ck", work / "weights.npy"
    cloud = (Gcp if args.provider == "gcp" else Aws)(args)
    env = dict(os.environ, NBCTL_HOME=str(work / "home"), NBCTL_OWNER="bench",
               NBCTL_POLL_INTERVAL=str(args.poll_interval), NBCTL_RETRY_SCALE="0.01",
               PYTHONPATH=str(REPO), **cloud.env)
    cmd = [sys.executable, "-m", "nbctl_cloud", "run", NAME, "--provider", args.provider,
           "--gpu", "t4", "--preemptible", "--zone", ZONES[args.provider],
           "--checkpoint-url", ck.as_uri(), "--max-restarts", str(args.preemptions + 2),
           "--follow", "--output", "json", "--", "python3", str(TRAIN), *train_args,
           "--out", str(out)]
    rows = []
    try:
        expected = reference(train_args, work)
        errors = open(work / "nbctl-run.log", "w")  # not a pipe: nothing may block nbctl
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE,
                                stderr=errors, text=True)
        for restart in range(args.preemptions):
            if wait_running(proc, ck, restart, timeout=120) is None:
                print(f"attempt {restart} never ran", file=sys.stderr)
                break
            time.sleep(rng.uniform(0.5, 2.5))
            cloud.preempt(args)
            after = wait_running(proc, ck, restart + 1, timeout=120)
            if after is None:
                print(f"attempt {restart + 1} never ran", file=sys.stderr)
                break
            taken, asked, running = cloud.times()
            rows.append({"detect": asked - taken, "boot": running - asked,
                         "job_start": after["started_at"] - running,
                         "recovery": after["started_at"] - taken - (running - asked)})
        stdout, _ = proc.communicate(timeout=600)
        errors.close()
        job = json.loads(stdout) if proc.returncode == 0 else {
            "state": "FAILED", "detail": (work / "nbctl-run.log").read_text()[-2000:]}
        for restart, row in enumerate(rows):  # from the logs, once they are complete
            row["lost"] = lost_steps(ck, restart)
    finally:
        subprocess.run([sys.executable, "-m", "nbctl_cloud", "down", NAME, "--yes"], cwd=REPO,
                       env=env, capture_output=True, timeout=120)
        cloud.stop()

    same = out.exists() and out.read_bytes() == expected
    print("reproduce: python scripts/bench_recovery.py " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])))
    print(f"settings: {args.provider}, notice {args.notice}s, emulated provision "
          f"{args.provision_delay}s, NBCTL_POLL_INTERVAL {args.poll_interval}s, "
          f"nbctl run --follow checks every 1s")
    print(f"{'preemption':>10}  {'detect+start':>12}  {'boot':>6}  {'job start':>9}  "
          f"{'recovery':>8}  {'lost steps':>10}")
    for i, r in enumerate(rows, 1):
        lost = "?" if r["lost"] is None else str(r["lost"])
        print(f"{i:>10}  {r['detect']:>11.2f}s  {r['boot']:>5.2f}s  {r['job_start']:>8.2f}s  "
              f"{r['recovery']:>7.2f}s  {lost:>10}")
    if rows:
        med = {k: statistics.median(r[k] for r in rows) for k in rows[0] if k != "lost"}
        lost = [r["lost"] for r in rows]
        print(f"{'median':>10}  {med['detect']:>11.2f}s  {med['boot']:>5.2f}s  "
              f"{med['job_start']:>8.2f}s  {med['recovery']:>7.2f}s   (n={len(rows)})")
        print(f"median recovery excluding boot: {med['recovery']:.2f}s "
              f"({'under' if med['recovery'] < 10 else 'OVER'} the 10 s target); steps lost: "
              f"{'unknown for some' if None in lost else sum(lost)}")
    print(f"job: {job.get('state')}, restarts {job.get('restarts')}, preemptions "
          f"{job.get('preemptions')}, final weights "
          f"{'identical to' if same else 'DIFFERENT from'} the uninterrupted run")
    return 0 if rows and same and job.get("state") == "SUCCEEDED" else 1


if __name__ == "__main__":
    sys.exit(main())
