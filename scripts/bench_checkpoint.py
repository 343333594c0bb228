"""Checkpoint benchmark: training stall per save (asynchronous vs blocking), write throughput
against the storage's raw bandwidth, and steps lost per preemption.

    python scripts/bench_checkpoint.py [--dir DIR] [--reps 3] [--large] [--preemptions 5]

- raw: the same bytes written with plain open()/write() and fsync to the same filesystem.
- blocking: `Checkpointer.save` with async_save=False; the stall is the whole save.
- async: the stall is the copy to host memory; "cold" is the first save (fresh buffers, page
  faults), "warm" the later ones (the buffers are reused).
- preemptions: a loop of `--step-time` steps with a checkpoint every `--interval` steps and a 100
  MB state, stopped at a random moment by SIGTERM (a notice longer than one save: the loop saves the
  step it is at, so 0 steps are expected lost) or by SIGKILL (no notice: at most one interval,
  plus the steps run while the save in flight was being written).
Targets: async warm stall < 10% of the blocking save; blocking throughput > 70% of raw.
Prints medians of `--reps` repetitions (5). 1 GB states only with --large.
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from nbctl_cloud.runtime.checkpoint import EXIT_PREEMPTED, Checkpointer  # noqa: E402

MB = 1 << 20


def make_state(nbytes: int, arrays: int = 4) -> dict:
    per = nbytes // arrays // 4
    gen = np.random.default_rng(0)
    return {"params": [gen.random(per, dtype=np.float32) for _ in range(arrays)], "step": 0}


def raw_write(directory: str, state: dict) -> float:
    """Seconds to write the state's bytes with open/write/fsync: the storage's raw speed."""
    path = os.path.join(directory, "raw.bin")
    started = time.perf_counter()
    with open(path, "wb") as f:
        for arr in state["params"]:
            f.write(memoryview(arr).cast("B"))
        f.flush()
        os.fsync(f.fileno())
    elapsed = time.perf_counter() - started
    os.remove(path)
    return elapsed


def bench_size(base: str, nbytes: int, reps: int) -> dict:
    state = make_state(nbytes)
    size = sum(a.nbytes for a in state["params"])
    blocking_dir = os.path.join(base, "blocking")
    blocking_ck = Checkpointer(blocking_dir, keep=1, handle_sigterm=False)
    raw, blocking = [], []
    for step in range(1, reps + 1):  # interleaved, each from a clean page cache: same conditions
        os.sync()
        raw.append(raw_write(base, state))
        blocking_ck.wait()  # training between two checkpoints outlasts removing the old one
        os.sync()
        started = time.perf_counter()
        blocking_ck.save(state, step)
        blocking.append(time.perf_counter() - started)
    blocking_ck.close()
    shutil.rmtree(blocking_dir)

    async_dir = os.path.join(base, "async")
    async_ck = Checkpointer(async_dir, keep=1, async_save=True, handle_sigterm=False)
    cold = warm_total = None
    warm, totals = [], []
    for step in range(1, reps + 2):
        os.sync()
        started = time.perf_counter()
        async_ck.save(state, step)
        stall = time.perf_counter() - started
        async_ck.wait()
        total = time.perf_counter() - started
        if step == 1:
            cold = stall
        else:
            warm.append(stall)
            totals.append(total)
    warm_total = statistics.median(totals)
    async_ck.close()
    shutil.rmtree(async_dir)
    return {"bytes": size, "raw_s": statistics.median(raw), "blocking_s": statistics.median(blocking),
            "async_cold_s": cold, "async_warm_s": statistics.median(warm),
            "async_total_s": warm_total}


CHILD = """
import os, sys, time, numpy as np
sys.path.insert(0, {repo!r})
from nbctl_cloud.runtime.checkpoint import Checkpointer
ck = Checkpointer(keep=2, async_save=True)
restored = ck.load_latest()
state = restored.state if restored else {{"w": np.zeros({n}, dtype=np.float32), "step": 0}}
step = state["step"]
while True:
    time.sleep({step_time})                      # one training step
    state["w"] += 1
    step += 1
    state["step"] = step
    print(step, flush=True)
    if ck.preemption_requested:
        ck.save(state, step)
        ck.exit_preempted()
    if step % {interval} == 0:
        ck.save(state, step)
"""


def lost_steps(base: str, how: signal.Signals, interval: int, step_time: float, rnd) -> int:
    """Steps done before the stop that the next start has to do again."""
    url = os.path.join(base, f"job-{how.name}-{rnd.randrange(1 << 30)}")
    code = CHILD.format(repo=REPO, n=100 * MB // 4, step_time=step_time, interval=interval)
    env = dict(os.environ, NBCTL_CHECKPOINT_URL=url)
    proc = subprocess.Popen([sys.executable, "-u", "-c", code], stdout=subprocess.PIPE, text=True,
                            env=env)
    assert proc.stdout is not None
    proc.stdout.readline()
    time.sleep(rnd.uniform(interval * step_time, 4 * interval * step_time))
    proc.send_signal(how)
    out = proc.stdout.read()  # not communicate(): it would skip what readline() buffered
    proc.wait(timeout=120)
    done = int(out.split()[-1]) if out.split() else 0
    if how == signal.SIGTERM and proc.returncode != EXIT_PREEMPTED:
        raise SystemExit(f"the job exited {proc.returncode} after SIGTERM, not {EXIT_PREEMPTED}")
    restored = Checkpointer(url, handle_sigterm=False).load_latest()
    shutil.rmtree(url, ignore_errors=True)
    return done - (restored.step if restored else 0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default=None, help="a directory on the storage to measure "
                    "(default: a temporary one)")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--large", action="store_true", help="also measure a 1 GB state")
    ap.add_argument("--preemptions", type=int, default=5, help="stops of each kind to measure")
    ap.add_argument("--interval", type=int, default=20, help="steps between checkpoints")
    ap.add_argument("--step-time", type=float, default=0.02, help="seconds per training step")
    args = ap.parse_args()

    base = tempfile.mkdtemp(prefix="nbctl-bench-", dir=args.dir)
    try:
        sizes = [100 * MB] + ([1024 * MB] if args.large else [])
        print(f"storage: {base}   repetitions: {args.reps} (medians)")
        print(f"{'state':>8} {'raw MB/s':>9} {'save MB/s':>9} {'save/raw':>8} {'blocking s':>10} "
              f"{'async cold s':>12} {'async warm s':>12} {'warm/blocking':>13}")
        for nbytes in sizes:
            r = bench_size(base, nbytes, args.reps)
            mb = r["bytes"] / MB
            raw_bw, save_bw = mb / r["raw_s"], mb / r["blocking_s"]
            print(f"{mb:>6.0f}MB {raw_bw:>9.0f} {save_bw:>9.0f} {save_bw / raw_bw:>8.0%} "
                  f"{r['blocking_s']:>10.3f} {r['async_cold_s']:>12.3f} {r['async_warm_s']:>12.3f} "
                  f"{r['async_warm_s'] / r['blocking_s']:>13.1%}")
            print(f"{'':>8} async save written in {r['async_total_s']:.3f} s "
                  f"({mb / r['async_total_s']:.0f} MB/s) while training went on")

        rnd = random.Random(0)
        for how, expect in ((signal.SIGTERM, "expected 0"),
                            (signal.SIGKILL, f"expected <= interval {args.interval} + one save")):
            lost = [lost_steps(base, how, args.interval, args.step_time, rnd)
                    for _ in range(args.preemptions)]
            print(f"steps lost per {how.name:7} stop ({expect}): {lost}  max {max(lost)}")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
