"""nbctl's carried runtime, on the machine: fetch it, check its sha256, unpack it once per hash.

`nbctl run` packs nbctl's machine runtime (see nbctl_cloud.runtime_bundle) into the job's storage
and hands the machine its URL and sha256. Before each attempt a launcher (job_launcher.py on a
cloud VM; the local provider in-process) calls

    ensure_packages(requirements)            # fsspec and the storage driver, pinned, if missing
    path = install(url, sha256, root)        # <root>/<sha256>, fetched and checked once
    # then: PYTHONPATH=path python3 -m nbctl_cloud.runtime.jobwrap ...

and, when either raises, `report_failure(...)`, so the attempt ends FAILED with the reason and
nothing of it runs. Bytes whose sha256 is not the one nbctl packed are never unpacked. The
folders made are the caller's (root's, on a machine) and not writable by anyone else; the job
inherits PYTHONPATH, so `from nbctl_cloud.runtime.checkpoint import Checkpointer` works in it
without nbctl installed. Standard library only (fsspec for a URL that is not a local path),
Python 3.7 syntax: a launcher runs this file with the machine's own python3, before any of
nbctl is there.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time

PACKAGE = "nbctl_cloud"
MARKER = ".nbctl-runtime"  # written last: the folder is complete
EXIT_NOT_RUN = 127  # the attempt's exit code when it could not start, as jobwrap reports it
_SHA256 = re.compile(r"[0-9a-f]{64}")
_MEMBER = re.compile(r"%s(/[A-Za-z0-9_]+)*/[A-Za-z0-9_]+\.py" % PACKAGE)


class RuntimeMismatch(ValueError):
    """The runtime fetched is not the one nbctl packed (or cannot be unpacked as one)."""


def _local_path(url: str) -> str | None:
    if url.startswith("file://"):
        return url[len("file://"):]
    return None if "://" in url else url


def fetch(url: str) -> bytes:
    """The bytes at `url`: a local path or file:// with the standard library, else fsspec."""
    path = _local_path(url)
    if path is not None:
        with open(path, "rb") as f:
            return f.read()
    import fsspec
    with fsspec.open(url, "rb") as f:
        return f.read()


def install(url: str, sha256: str, root: str) -> str:
    """The folder that holds the runtime with this sha256 (put on PYTHONPATH to run it):
    `<root>/<sha256>`, fetched from `url`, checked and unpacked unless it is there already.
    Raises RuntimeMismatch, before writing anything under it, when the bytes' sha256 differs;
    OSError when `url` cannot be read."""
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise RuntimeMismatch("the job names no valid sha256 for nbctl's runtime (%r)" % (sha256,))
    dest = os.path.join(root, sha256)
    if os.path.isfile(os.path.join(dest, MARKER)):
        return dest
    data = fetch(url)
    got = hashlib.sha256(data).hexdigest()
    if got != sha256:
        raise RuntimeMismatch("nbctl's runtime at %s has sha256 %s, not %s as packed: it was "
                              "changed after `nbctl run`; refusing to run it" % (url, got, sha256))
    os.makedirs(root, mode=0o755, exist_ok=True)
    os.chmod(root, 0o755)  # whatever the umask: others may read it, only its owner writes
    tmp = tempfile.mkdtemp(prefix=".unpack-", dir=root)
    try:
        _unpack(data, tmp)
        os.chmod(tmp, 0o755)
        if os.path.lexists(dest):  # what an unpack killed half-way left: no marker in it
            shutil.rmtree(dest) if os.path.isdir(dest) and not os.path.islink(dest) \
                else os.unlink(dest)
        os.rename(tmp, dest)
    except OSError:
        if not os.path.isfile(os.path.join(dest, MARKER)):
            raise
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp)  # another launcher unpacked the same hash first
    return dest


def _unpack(data: bytes, target: str) -> None:
    """Plain .py files under nbctl_cloud/, nothing else: folders 0755, files 0644."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        members = tar.getmembers()
        for m in members:
            if not m.isreg() or not _MEMBER.fullmatch(m.name):
                raise RuntimeMismatch("nbctl's runtime holds %r, not a module of %s"
                                      % (m.name, PACKAGE))
        for m in members:
            path = os.path.join(target, *m.name.split("/"))
            folder = os.path.dirname(path)
            os.makedirs(folder, mode=0o755, exist_ok=True)
            os.chmod(folder, 0o755)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            with os.fdopen(fd, "wb") as out:
                out.write(tar.extractfile(m).read())
    with open(os.path.join(target, MARKER), "w") as f:
        f.write("complete\n")


def missing(requirements) -> list:
    """The pinned requirements ("name==version") whose module this python cannot import."""
    return [r for r in requirements
            if importlib.util.find_spec(r.split("==")[0].strip().replace("-", "_")) is None]


def ensure_packages(requirements, python: str | None = None, timeout: float = 900) -> list:
    """pip-install the requirements this python lacks (fsspec, gcsfs, s3fs: each module is named
    as its distribution); returns those installed. OSError with pip's last line on failure."""
    need = missing(requirements or [])
    if not need:
        return []
    cmd = [python or sys.executable, "-m", "pip", "install", "--quiet",
           "--disable-pip-version-check", "--"] + need
    try:
        done = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, universal_newlines=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise OSError("installing %s took over %d s" % (" ".join(need), timeout)) from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise OSError("cannot install %s: %s" % (" ".join(need), lines[-1] if lines else
                                                  "pip exited with %d" % done.returncode))
    importlib.invalidate_caches()
    return need


def report_failure(status_url: str, run_id: str, restart: int, detail: str) -> None:
    """Write the attempt's status as jobwrap would for an attempt that could not start: exited,
    code 127, with `detail` (the controller then marks the job FAILED with it)."""
    now = time.time()
    blob = json.dumps({"run_id": run_id, "restart": int(restart), "host": socket.gethostname(),
                       "started_at": now, "state": "exited", "exit_code": EXIT_NOT_RUN,
                       "ended_at": now, "heartbeat_at": now, "detail": detail},
                      sort_keys=True).encode()
    url = "%s/status-%d.json" % (status_url.rstrip("/"), int(restart))
    path = _local_path(url)
    if path is None:
        import fsspec
        fs, where = fsspec.core.url_to_fs(url)
        fs.pipe_file(where, blob)
        return
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "wb") as f:
        f.write(blob)
    os.replace(tmp, path)
