"""Start-up cost of the CLI: median wall time and peak memory of `nbctl --help` and
`nbctl status` (100 instances in the store), next to bare `python -c pass` in the same run.

    python scripts/bench_startup.py [--runs 21]

Targets: --help within 0.10 s of bare Python; status under 0.40 s.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def measure(cmd: list[str], env: dict, runs: int) -> tuple[float, float]:
    walls, rss = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        walls.append(time.perf_counter() - t0)
        rss.append(usage.ru_maxrss / 1024)  # KiB -> MiB on Linux
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{' '.join(cmd)} failed")
    return statistics.median(walls), max(rss)


def seed(env: dict, count: int) -> None:
    code = (
        "from nbctl_cloud.store import Store\n"
        "from nbctl_cloud.model import Instance, State\n"
        "from nbctl_cloud.model import InstanceSpec\n"
        "s = Store()\n"
        f"for i in range({count}):\n"
        "    n = f'nb-{i:03d}'\n"
        "    s.save(Instance(name=n, provider='gcp', state=State.RUNNING, gpu='t4', gpu_count=1,"
        " zone='us-central1-a'), InstanceSpec(name=n, provider='gcp', gpu='t4', gpu_count=1))\n")
    subprocess.run([sys.executable, "-c", code], env=env, check=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=21)
    args = ap.parse_args()
    from bench_fleet import compile_nbctl  # this folder is the script's first on sys.path
    compile_nbctl()
    beside = os.path.join(os.path.dirname(sys.executable), "nbctl")
    nbctl = beside if os.path.exists(beside) else shutil.which("nbctl")
    base = [nbctl] if nbctl else [sys.executable, "-m", "nbctl_cloud"]
    print(f"nbctl: {' '.join(base)}")
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, NBCTL_HOME=home)
        seed(env, 100)
        rows = [("python -c pass", [sys.executable, "-c", "pass"]),
                ("nbctl --help", base + ["--help"]),
                ("nbctl status (100 instances)", base + ["status"])]
        results = {label: measure(cmd, env, args.runs) for label, cmd in rows}
    bare = results["python -c pass"][0]
    print(f"{'command':32} {'median s':>9} {'vs bare':>9} {'peak MiB':>9}   ({args.runs} runs each)")
    for label, (wall, mem) in results.items():
        print(f"{label:32} {wall:9.3f} {wall - bare:+9.3f} {mem:9.1f}")
    help_over = results["nbctl --help"][0] - bare
    status_wall = results["nbctl status (100 instances)"][0]
    print(f"\n--help over bare python: {help_over:.3f} s (target <= 0.100): "
          f"{'ok' if help_over <= 0.100 else 'MISSED'}")
    print(f"status: {status_wall:.3f} s (target < 0.400): {'ok' if status_wall < 0.400 else 'MISSED'}")


if __name__ == "__main__":
    main()
