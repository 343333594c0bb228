"""A job that only checkpoints: resumes from the latest step, then saves step after step forever.

    python saver.py URL [--async-save]

Each state is `expected_state(step)`, so whatever is loaded can be checked against its step. The
helper's own log goes to stdout, one line per phase, so a test can kill this at a chosen moment.
"""
from __future__ import annotations

import logging
import sys

import numpy as np
from nbctl_cloud.runtime.checkpoint import Checkpointer

ARRAYS, LENGTH = 4, 256 * 1024  # 8 MiB a checkpoint: long enough to be killed inside a write


def expected_state(step: int) -> dict:
    return {"step": step, "arrays": [np.full(LENGTH, step * 10 + i, dtype=np.float64)
                                     for i in range(ARRAYS)],
            "meta": {"note": f"state of step {step}"}}


def main() -> None:
    logging.basicConfig(stream=sys.stdout, level=logging.DEBUG, format="%(message)s")
    ck = Checkpointer(sys.argv[1], keep=2, async_save="--async-save" in sys.argv)
    restored = ck.load_latest()
    step = restored.step if restored else 0
    print(f"resumed {step}", flush=True)
    while True:
        step += 1
        ck.save(expected_state(step), step)


if __name__ == "__main__":
    main()
