"""A preemptible training job with numpy only: a tiny MLP fitted by SGD on seeded synthetic data.

    NBCTL_CHECKPOINT_URL=s3://bucket/run1 python scripts/examples/train_numpy.py \
        --steps 2000 --every 100 --out weights.npy

Stopped at any moment (SIGTERM: the preemption notice, or SIGKILL: none) and started again with
the same arguments, it resumes from its last checkpoint and ends with weights bit-identical to a
run that was never stopped. That holds because the checkpoint carries everything the next step
depends on: the weights, the step, and the generator that draws the minibatches
(`rng.bit_generator.state`). The data set is rebuilt from its own fixed seed, so it needs no saving.

On SIGTERM the loop saves the step it is at and exits with EXIT_PREEMPTED (85), which tells nbctl
to resume the job elsewhere. Prints `sha256 <hex>` of the final weights and writes them, as one
.npy vector, to --out.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time

import numpy as np

from nbctl_cloud.runtime.checkpoint import Checkpointer  # nbctl carries it to the machine

FEATURES, HIDDEN, SAMPLES, BATCH, LR = 16, 32, 4096, 64, 0.05


def dataset(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and labels from their own generator: rebuilt identically on every start."""
    gen = np.random.default_rng(seed)
    x = gen.normal(size=(SAMPLES, FEATURES))
    true_w = gen.normal(size=FEATURES)
    y = (x @ true_w + 0.5 * np.sin(x[:, 0] * 3) > 0).astype(np.float64)
    return x, y


def initial_state(seed: int) -> dict:
    gen = np.random.default_rng(seed + 1)
    return {
        "w1": gen.normal(scale=1 / np.sqrt(FEATURES), size=(FEATURES, HIDDEN)),
        "b1": np.zeros(HIDDEN),
        "w2": gen.normal(scale=1 / np.sqrt(HIDDEN), size=HIDDEN),
        "b2": np.float64(0.0),
        "batches": gen.bit_generator.state,  # the minibatch generator, continued on resume
        "loss": None,
    }


def train_step(state: dict, gen: np.random.Generator, x: np.ndarray, y: np.ndarray) -> None:
    idx = gen.integers(0, SAMPLES, size=BATCH)
    xb, yb = x[idx], y[idx]
    h = np.tanh(xb @ state["w1"] + state["b1"])
    p = 1 / (1 + np.exp(-(h @ state["w2"] + state["b2"])))
    g = (p - yb) / BATCH  # d(mean cross-entropy)/d(logit)
    gh = np.outer(g, state["w2"]) * (1 - h * h)
    state["w2"] -= LR * (h.T @ g)
    state["b2"] -= LR * g.sum()
    state["w1"] -= LR * (xb.T @ gh)
    state["b1"] -= LR * gh.sum(axis=0)
    state["loss"] = float(-np.mean(yb * np.log(p + 1e-12) + (1 - yb) * np.log(1 - p + 1e-12)))


def weights(state: dict) -> np.ndarray:
    return np.concatenate([state["w1"].ravel(), state["b1"], state["w2"], [state["b2"]]])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=int(os.environ.get("TRAIN_STEPS", 400)))
    ap.add_argument("--every", type=int, default=int(os.environ.get("CHECKPOINT_EVERY", 25)),
                    help="checkpoint interval in steps")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True, help="where to write the final weights (.npy)")
    ap.add_argument("--checkpoint-url", default=None, help="default: $NBCTL_CHECKPOINT_URL")
    ap.add_argument("--async-save", action="store_true", help="write checkpoints in the background")
    ap.add_argument("--step-time", type=float, default=0.0,
                    help="extra seconds per step, to stand in for real work")
    args = ap.parse_args(argv)

    x, y = dataset(args.seed)
    ck = Checkpointer(args.checkpoint_url, keep=3, async_save=args.async_save)
    restored = ck.load_latest()
    state, start = restored if restored else (initial_state(args.seed), 0)
    print(f"restart {os.environ.get('NBCTL_RESTART', '0')}: starting at step {start}", flush=True)
    gen = np.random.default_rng()
    gen.bit_generator.state = state["batches"]

    for step in range(start, args.steps):
        train_step(state, gen, x, y)
        state["batches"] = gen.bit_generator.state
        if args.step_time:
            time.sleep(args.step_time)
        if ck.preemption_requested:
            ck.save(state, step + 1)
            print(f"preempted: saved step {step + 1}", flush=True)
            ck.exit_preempted()
        if (step + 1) % args.every == 0:
            ck.save(state, step + 1)
    if args.steps % args.every:
        ck.save(state, args.steps)
    ck.wait()

    final = weights(state)
    np.save(args.out, final)
    print(f"loss {state['loss']}")
    print(f"sha256 {hashlib.sha256(final.tobytes()).hexdigest()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
