"""A preemptible training job with PyTorch on the CPU: a small MLP, SGD with momentum.

    NBCTL_CHECKPOINT_URL=gs://bucket/run1 python scripts/examples/train_torch.py \
        --steps 2000 --every 100 --out weights.npy

Stopped at any moment (SIGTERM: the preemption notice, or SIGKILL: none) and started again, it
resumes from its last checkpoint and ends with weights bit-identical to an unstopped run. The
checkpoint carries the model's and the optimizer's state dicts (momentum buffers included) and
`torch.get_rng_state()`, the generator that draws the minibatches; the data set comes from its
own seeded generator and is rebuilt on every start. One CPU thread keeps the arithmetic order,
and so the bits, the same from run to run.

On SIGTERM the loop saves the step it is at and exits with EXIT_PREEMPTED (85). Prints
`sha256 <hex>` of the final weights and writes them, as one float32 .npy vector, to --out.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time

import numpy as np
import torch

from nbctl_cloud.runtime.checkpoint import Checkpointer  # nbctl carries it to the machine

FEATURES, HIDDEN, SAMPLES, BATCH = 16, 32, 4096, 64


def dataset(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(SAMPLES, FEATURES, generator=gen)
    true_w = torch.randn(FEATURES, generator=gen)
    y = ((x @ true_w + 0.5 * torch.sin(3 * x[:, 0])) > 0).float()
    return x, y


def build(seed: int) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(seed + 1)
    model = torch.nn.Sequential(torch.nn.Linear(FEATURES, HIDDEN), torch.nn.Tanh(),
                                torch.nn.Linear(HIDDEN, 1))
    return model, torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)


def flat_weights(model: torch.nn.Module) -> np.ndarray:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).numpy()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=int(os.environ.get("TRAIN_STEPS", 300)))
    ap.add_argument("--every", type=int, default=int(os.environ.get("CHECKPOINT_EVERY", 25)),
                    help="checkpoint interval in steps")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True, help="where to write the final weights (.npy)")
    ap.add_argument("--checkpoint-url", default=None, help="default: $NBCTL_CHECKPOINT_URL")
    ap.add_argument("--async-save", action="store_true", help="write checkpoints in the background")
    ap.add_argument("--step-time", type=float, default=0.0,
                    help="extra seconds per step, to stand in for real work")
    args = ap.parse_args(argv)

    torch.set_num_threads(1)
    x, y = dataset(args.seed)
    model, optimizer = build(args.seed)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    ck = Checkpointer(args.checkpoint_url, keep=3, async_save=args.async_save)
    start = 0
    restored = ck.load_latest()
    if restored:
        saved, start = restored
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        torch.set_rng_state(saved["rng"])
    print(f"restart {os.environ.get('NBCTL_RESTART', '0')}: starting at step {start}", flush=True)

    def state() -> dict:
        return {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "rng": torch.get_rng_state()}

    for step in range(start, args.steps):
        idx = torch.randint(0, SAMPLES, (BATCH,))
        optimizer.zero_grad()
        loss = loss_fn(model(x[idx]).squeeze(1), y[idx])
        loss.backward()
        optimizer.step()
        if args.step_time:
            time.sleep(args.step_time)
        if ck.preemption_requested:
            ck.save(state(), step + 1)
            print(f"preempted: saved step {step + 1}", flush=True)
            ck.exit_preempted()
        if (step + 1) % args.every == 0:
            ck.save(state(), step + 1)
    if args.steps % args.every:
        ck.save(state(), args.steps)
    ck.wait()

    final = flat_weights(model)
    np.save(args.out, final)
    print(f"sha256 {hashlib.sha256(final.tobytes()).hexdigest()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
