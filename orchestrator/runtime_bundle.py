"""nbctl's machine runtime, carried by nbctl itself: no machine needs nbctl installed.

What travels is the `nbctl_cloud` package cut down to what runs on a machine: every module of
nbctl_cloud.runtime (the job wrapper, the checkpoint helper and what they import: workdir
unpacking, safe_tar, checkpoint_dirs ...), nbctl_cloud.errors (the one error taxonomy, standard
library only) and a two-line nbctl_cloud/__init__.py, so that `from nbctl_cloud.runtime.checkpoint
import Checkpointer` works in the job as it does on the laptop. It is packed from the installed
package as a gzipped tar with no times, owners or modes of this computer's, names sorted: the same
files give the same bytes, so the same sha256.

For a job, `carry(job)` uploads it next to the working directory's archive in the job's storage,
`<checkpoint>/_nbctl/<run_id>/runtime.tar.gz`, and returns the JobSpec with `runtime_url` and
`runtime_sha256` set (the store keeps them, so every restart runs the same runtime).
`carried(job)` does that only for a spec that has no runtime yet. A provider hands the machine
`launch_fields(job)`: the URL, the sha256 and the pinned packages the checkpoint URL needs
(`requirements`). On the machine, nbctl_cloud.runtime.carry (standard library only; a boot script
writes it beside its launcher, see nbctl_cloud.bootscript) installs what is missing, fetches, checks the
hash, unpacks once per hash and runs the job wrapper from there.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import UserError

if TYPE_CHECKING:  # pragma: no cover
    from .model import JobSpec

PACKAGE_DIR = Path(__file__).resolve().parent  # the installed nbctl_cloud
ARCHIVE = "runtime.tar.gz"
INIT = ('"""nbctl\'s machine runtime, carried to this machine by nbctl (no nbctl installed)."""\n'
        '__version__ = "%s"\n')
# the storage driver each scheme needs on the machine, besides fsspec (pinned to this computer's)
DRIVERS = {"gs": "gcsfs", "gcs": "gcsfs", "s3": "s3fs", "s3a": "s3fs"}


@dataclass(frozen=True)
class Bundle:
    data: bytes  # the gzipped tar
    sha256: str  # of `data`: what the machine checks before it unpacks anything


def members() -> list[tuple[str, bytes]]:
    """(name in the archive, content) of every file carried, sorted by name."""
    from . import __version__
    files = [("nbctl_cloud/__init__.py", (INIT % __version__).encode()),
             ("nbctl_cloud/errors.py", (PACKAGE_DIR / "errors.py").read_bytes())]
    files += [(f"nbctl_cloud/runtime/{p.name}", p.read_bytes())
              for p in (PACKAGE_DIR / "runtime").glob("*.py")]
    return sorted(files)


def pack(files: list[tuple[str, bytes]]) -> Bundle:
    """`files` as a deterministic gzipped tar: mode 0644, owner 0, time 0, no gzip name or time."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", fileobj=buf, mode="wb", mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, content in files:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(content), 0o644, 0
            tar.addfile(info, io.BytesIO(content))
    data = buf.getvalue()
    return Bundle(data, hashlib.sha256(data).hexdigest())


@lru_cache(maxsize=1)
def build() -> Bundle:
    """The runtime of the nbctl installed here."""
    return pack(members())


def upload(url: str) -> Bundle:
    """Write the runtime to `url` (any fsspec URL; a local folder is made private, 0700)."""
    import fsspec

    from .runtime.checkpoint_dirs import make_private
    bundle = build()
    fs, path = fsspec.core.url_to_fs(url)
    if "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)):
        make_private(os.path.dirname(path))
    fs.pipe_file(path, bundle.data)
    return bundle


def carry(job: "JobSpec") -> "JobSpec":
    """Upload the runtime into the job's storage; the spec with its URL and sha256."""
    url = f"{job.status_url}/{ARCHIVE}"
    return replace(job, runtime_url=url, runtime_sha256=upload(url).sha256)


def carried(job: "JobSpec") -> "JobSpec":
    """`job` if it names its runtime already, else `carry(job)`."""
    return job if job.runtime_url and job.runtime_sha256 else carry(job)


def requirements(checkpoint_url: str) -> list[str]:
    """The packages, pinned to this computer's versions, that the job wrapper and the checkpoint
    helper need on the machine for this URL: fsspec, and gcsfs or s3fs for gs:// or s3://."""
    scheme = checkpoint_url.split("://", 1)[0] if "://" in checkpoint_url else "file"
    names = ["fsspec"] + ([DRIVERS[scheme]] if scheme in DRIVERS else [])
    pinned = []
    for name in names:
        try:
            pinned.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            raise UserError(f"{checkpoint_url} needs {name} on the machine, and nbctl pins the "
                            f"version installed here: install {name} beside nbctl") from None
    return pinned


def attempt(job: "JobSpec", restart: int) -> dict:
    """What a machine's launcher (nbctl_cloud.runtime.job_launcher) needs to run attempt
    `restart`: the command, where it reports and checkpoints, the working directory (the
    archive `nbctl run` packed, or a git URL) and nbctl's runtime (carried now if it was not).
    No secret goes in here: clouds show it in metadata and tags."""
    return {"run_id": job.run_id, "restart": int(restart), "command": list(job.command),
            "checkpoint_url": job.checkpoint_url, "status_url": job.status_url,
            "workdir_url": job.workdir_url, "git_url": job.git_url, **launch_fields(job)}


def write_attempt(job: "JobSpec", restart: int, url: str) -> dict:
    """Write `attempt(job, restart)` as JSON to `url` (a machine with no metadata of its own
    reads it there); returns it."""
    import json

    import fsspec
    fields = attempt(job, restart)
    fs, path = fsspec.core.url_to_fs(url)
    fs.pipe_file(path, json.dumps(fields, sort_keys=True).encode())
    return fields


def launch_fields(job: "JobSpec") -> dict:
    """What a machine's launcher needs to run the carried runtime (carrying it if not yet)."""
    job = carried(job)
    return {"runtime_url": job.runtime_url, "runtime_sha256": job.runtime_sha256,
            "requirements": requirements(job.checkpoint_url)}

