"""Helpers for the checkpoint tests: subprocess environments, and looking at (and tampering with)
what a checkpoint left in its storage, through fsspec as any reader would."""
from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "scripts" / "examples"
HERE = Path(__file__).resolve().parent
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env(url: str, **extra: str) -> dict:
    """The environment nbctl run gives a job, for a subprocess of the tests."""
    env = dict(os.environ)
    env.update({"PYTHONPATH": str(REPO), "NBCTL_CHECKPOINT_URL": url, "NBCTL_RUN_ID": "run-test",
                "NBCTL_RESTART": "0", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"})
    env.update(extra)
    return env




# -- looking at and tampering with what a checkpoint left, through fsspec ---------------------------

def storage(url: str):
    """(filesystem, root path) for `url`, with no cached listing."""
    import fsspec

    fs, root = fsspec.core.url_to_fs(url)
    fs.invalidate_cache()
    return fs, root.rstrip("/")


def names_under(url: str, rel: str = "") -> list[str]:
    fs, root = storage(url)
    path = f"{root}/{rel}" if rel else root
    return sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(path, detail=False))


def step_prefix(url: str, step: int) -> str:
    (prefix,) = [n for n in names_under(url) if n.startswith(f"step-{step:012d}-")]
    return prefix


def remove(url: str, rel: str) -> None:
    fs, root = storage(url)
    fs.rm(f"{root}/{rel}")


def overwrite(url: str, rel: str, data: bytes) -> None:
    fs, root = storage(url)
    fs.pipe_file(f"{root}/{rel}", data)


def read(url: str, rel: str) -> bytes:
    fs, root = storage(url)
    return fs.cat_file(f"{root}/{rel}")
