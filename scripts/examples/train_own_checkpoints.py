"""A preemptible training job that knows nothing of nbctl: its own checkpoints, exit 143 on SIGTERM.

    nbctl run demo --preemptible --checkpoint-url ~/nbctl-ckpt/own --follow -- \
        python3 scripts/examples/train_own_checkpoints.py --steps 400 --out weights.json

What training frameworks do on a preemption notice: on SIGTERM it saves the step it is at and
exits with 143 (128 + SIGTERM). nbctl counts any exit after the notice as a preemption and starts
the job again; it resumes from its last checkpoint and ends with the weights of a run that was
never stopped. Standard library only: logistic regression by SGD on seeded synthetic data. Each
step draws its minibatch from a generator seeded by (seed, step), so a checkpoint needs only the
weights and the step. Checkpoints are JSON files in `own-checkpoints/` under the folder that
NBCTL_CHECKPOINT_URL names (a path or a file:// URL), each written to a temporary name and
renamed into place, so a reader never sees half of one. Prints `sha256 <hex>` of the final
weights and writes them, as JSON, to --out.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import signal
import sys
import time
from urllib.parse import unquote, urlsplit

FEATURES, SAMPLES, BATCH, LR, KEEP = 8, 1024, 32, 0.1, 2
EXIT_ON_SIGTERM = 128 + signal.SIGTERM  # 143, as a shell reports a command SIGTERM ended


def dataset(seed: int) -> tuple[list[list[float]], list[float]]:
    """Inputs and labels from their own generator: rebuilt identically on every start."""
    gen = random.Random(seed)
    true_w = [gen.gauss(0, 1) for _ in range(FEATURES)]
    x = [[gen.gauss(0, 1) for _ in range(FEATURES)] for _ in range(SAMPLES)]
    y = [1.0 if sum(a * b for a, b in zip(row, true_w)) + 0.5 * math.sin(3 * row[0]) > 0
         else 0.0 for row in x]
    return x, y


def train_step(w: list[float], step: int, seed: int, x, y) -> list[float]:
    gen = random.Random(seed * 1_000_003 + step)  # this step's minibatch, whoever runs it
    grad = [0.0] * (FEATURES + 1)
    for i in (gen.randrange(SAMPLES) for _ in range(BATCH)):
        z = w[-1] + sum(a * b for a, b in zip(w, x[i]))
        g = (1 / (1 + math.exp(-z)) - y[i]) / BATCH
        for k in range(FEATURES):
            grad[k] += g * x[i][k]
        grad[-1] += g
    return [a - LR * b for a, b in zip(w, grad)]


def checkpoint_dir(url: str) -> str:
    if url.startswith("file://"):
        url = unquote(urlsplit(url).path)
    elif "://" in url:
        raise SystemExit(f"NBCTL_CHECKPOINT_URL {url}: this example writes to a folder only "
                         "(a path or file:// URL)")
    return os.path.join(os.path.expanduser(url), "own-checkpoints")


def save(folder: str, step: int, w: list[float]) -> None:
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"step-{step:08d}.json")
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump({"step": step, "w": w}, f)  # JSON floats round-trip exactly
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    for old in sorted(n for n in os.listdir(folder) if n.endswith(".json"))[:-KEEP]:
        os.unlink(os.path.join(folder, old))


def load_latest(folder: str) -> tuple[int, list[float]] | None:
    if not os.path.isdir(folder):
        return None
    for name in sorted((n for n in os.listdir(folder) if n.endswith(".json")), reverse=True):
        try:
            with open(os.path.join(folder, name)) as f:
                saved = json.load(f)
            return saved["step"], saved["w"]
        except (OSError, ValueError, KeyError):
            continue  # a newer one may have gone while listing; take the next
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--every", type=int, default=25, help="checkpoint interval in steps")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True, help="where to write the final weights (JSON)")
    ap.add_argument("--checkpoint-url", default=os.environ.get("NBCTL_CHECKPOINT_URL"),
                    help="default: $NBCTL_CHECKPOINT_URL")
    ap.add_argument("--step-time", type=float, default=0.0,
                    help="extra seconds per step, to stand in for real work")
    args = ap.parse_args(argv)
    if not args.checkpoint_url:
        ap.error("no checkpoint folder: set NBCTL_CHECKPOINT_URL or give --checkpoint-url")
    folder = checkpoint_dir(args.checkpoint_url)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))

    x, y = dataset(args.seed)
    start, w = load_latest(folder) or (0, [0.0] * (FEATURES + 1))
    print(f"restart {os.environ.get('NBCTL_RESTART', '0')}: starting at step {start}", flush=True)
    for step in range(start, args.steps):
        w = train_step(w, step, args.seed, x, y)
        if args.step_time:
            time.sleep(args.step_time)
        if stop:
            save(folder, step + 1, w)
            print(f"SIGTERM: saved step {step + 1}", flush=True)
            return EXIT_ON_SIGTERM
        if (step + 1) % args.every == 0:
            save(folder, step + 1, w)
    if args.steps % args.every:
        save(folder, args.steps, w)

    blob = json.dumps(w).encode()
    with open(args.out, "wb") as f:
        f.write(blob)
    print(f"sha256 {hashlib.sha256(blob).hexdigest()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
