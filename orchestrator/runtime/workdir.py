"""A job's working directory, carried to a cloud machine through the job's own storage.

`nbctl run` packs the directory into `<checkpoint>/_nbctl/<run_id>/workdir.tar.gz` before it
creates anything; on the machine, jobwrap unpacks it into the job's folder once (a marker
file, written last, tells a later attempt on the same disk that it is there). Version
control folders, virtual environments and caches stay behind, and a directory over the size
limit is refused with the advice to use --git instead. Standard library plus fsspec only.
"""
from __future__ import annotations

import os
import tarfile

from ..errors import UserError

ARCHIVE = "workdir.tar.gz"
MARKER = ".nbctl-workdir"
LIMIT_BYTES = 200 * 1024 * 1024
SKIP = {".git", ".hg", ".svn", ".venv", "venv", "__pycache__", ".ipynb_checkpoints",
        "node_modules", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".tox"}


def _files(directory: str):
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if d not in SKIP)
        for name in sorted(files):
            path = os.path.join(root, name)
            if name.endswith(".pyc") or not os.path.isfile(path) or os.path.islink(path):
                continue
            yield path


def pack(directory: str, url: str, limit: int = LIMIT_BYTES) -> int:
    """Upload `directory` as a gzipped tar to `url`; returns the bytes packed. Raises
    UserError, before writing anything, when it holds more than `limit` bytes."""
    files = list(_files(directory))
    total = sum(os.path.getsize(p) for p in files)
    if total > limit:
        raise UserError(f"{directory} holds {total / 2**20:.0f} MB to carry to the machine "
                        f"(over {limit / 2**20:.0f} MB): run from a smaller --workdir, or "
                        f"give --git URL")
    import fsspec

    fs, path = fsspec.core.url_to_fs(url)
    fs.makedirs(os.path.dirname(path), exist_ok=True)
    with fs.open(path, "wb") as out, tarfile.open(fileobj=out, mode="w:gz") as tar:
        for p in files:
            tar.add(p, arcname=os.path.relpath(p, directory), recursive=False)
    return total


def unpack(url: str, directory: str) -> bool:
    """Unpack the archive at `url` into `directory` unless an earlier attempt did; returns
    whether it unpacked. Members that would land outside `directory` are refused."""
    marker = os.path.join(directory, MARKER)
    if os.path.exists(marker):
        return False
    import fsspec

    os.makedirs(directory, exist_ok=True)
    with fsspec.open(url, "rb") as f, tarfile.open(fileobj=f, mode="r:gz") as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(directory, filter="data")  # no absolute paths, links out, devices
        else:  # a Python before 3.11.4 on the machine: the same rule, by hand
            root = os.path.realpath(directory)
            for m in tar.getmembers():
                target = os.path.realpath(os.path.join(root, m.name))
                if not (m.isfile() or m.isdir()) or os.path.commonpath([root, target]) != root:
                    raise OSError(f"refusing {m.name!r} in the working directory's archive")
            tar.extractall(directory)
    with open(marker, "w") as f:
        f.write(url + "\n")
    return True
