"""Count the HTTP requests nbctl makes to GCP per command, against the local emulator.

    python scripts/bench_gcp_requests.py [--instances 200] [--zones 3]

Runs the real CLI in subprocesses: `up` of a spot VM (to RUNNING), `stop` (to STOPPED),
`status --refresh` with N more instances spread over Z zones (put straight into the emulator's
state), and `status --refresh` of an on-demand Workbench inventory. Prints one row per command
with its request count per API method. The target: `status --refresh` costs one VM list call
for all zones together and one Workbench list per location, whatever N is.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.emulators.gcp import Delays, GcpEmulator  # noqa: E402  (needs the repo on the path)

ZONES = ("us-central1-a", "us-east1-c", "europe-west4-a", "us-west1-a", "asia-east1-a")
OWNER = "bench"


def nbctl(env: dict, *args: str) -> dict | list:
    res = subprocess.run([sys.executable, "-m", "nbctl_cloud", *args, "--output", "json"],
                         capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    if res.returncode != 0:
        raise SystemExit(f"nbctl {' '.join(args)} failed:\n{res.stderr}")
    return json.loads(res.stdout)


def measure(emu: GcpEmulator, env: dict, label: str, *args: str) -> tuple[str, Counter]:
    with emu.clock.lock:
        emu.counts.clear()
    nbctl(env, *args)
    with emu.clock.lock:
        return label, Counter(emu.counts)


def short(method: str) -> str:
    return method.replace("notebooks.projects.locations.", "notebooks.").replace("compute.", "")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--instances", type=int, default=200)
    ap.add_argument("--zones", type=int, default=3, choices=range(1, len(ZONES) + 1))
    args = ap.parse_args(argv)

    emu = GcpEmulator(delays=Delays(operation=0.05, provision=0.3, stop=0.1, delete=0.1)).start()
    home = tempfile.mkdtemp(prefix="nbctl-bench-")
    env = dict(os.environ, NBCTL_HOME=home, NBCTL_OWNER=OWNER, NBCTL_POLL_INTERVAL="0.2",
               NBCTL_RETRY_SCALE="0.01", PYTHONPATH=str(REPO), **emu.env())
    rows = []
    try:
        rows.append(measure(emu, env, "up (spot VM, to RUNNING)", "up", "sp1", "--provider", "gcp",
                            "--gpu", "t4", "--preemptible", "--zone", ZONES[0]))
        rows.append(measure(emu, env, "stop (to STOPPED)", "stop", "sp1"))
        with emu.clock.lock:
            for i in range(args.instances):
                z = ZONES[i % args.zones]
                emu.add_instance(f"vm{i}", z, labels={"nbctl-name": f"vm{i}", "nbctl-owner": OWNER})
        rows.append(measure(emu, env, f"status --refresh ({args.instances + 1} VMs, "
                                      f"{args.zones} zones)", "status", "--refresh"))
        rows.append(measure(emu, env, "up (Workbench, to RUNNING)", "up", "nb1", "--provider",
                            "gcp", "--gpu", "t4", "--zone", "us-central1-b"))
    finally:
        emu.stop()

    width = max(len(label) for label, _ in rows)
    print(f"{'command':<{width}}  {'requests':>8}  by method")
    for label, counts in rows:
        detail = ", ".join(f"{short(m)}={n}" for m, n in sorted(counts.items()))
        print(f"{label:<{width}}  {sum(counts.values()):>8}  {detail}")
    refresh = rows[2][1]
    vm_lists = refresh["compute.instances.aggregatedList"] + refresh["compute.instances.list"]
    per_instance = refresh["compute.instances.get"] + refresh["notebooks.projects.locations.instances.get"]
    print(f"\nstatus --refresh: {vm_lists} VM list call(s) for {args.zones} zones, "
          f"{per_instance} per-instance calls (target: at most one list per zone, none per instance)")
    if emu.violations:
        print(f"\n{len(emu.violations)} request(s) broke the discovery schema:", *emu.violations[:5], sep="\n  ")
        return 1
    return 0 if vm_lists <= args.zones and per_instance == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
