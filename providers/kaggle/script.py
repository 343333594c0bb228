"""The script the Kaggle provider pushes for one attempt: nbctl's kernel-side runtime
(nbctl_cloud.runtime.kaggle_session), then the attempt's settings, nbctl's carried runtime and
the packed working directory, then a call of its `main`. Kaggle runs one source file per
version, so all of it travels in that file; none of it is a secret (the working directory is
packed with secrets left out: nbctl_cloud.runtime.workdir)."""
from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

from nbctl_cloud.errors import UserError
from nbctl_cloud.model import JobSpec
from nbctl_cloud.runtime import kaggle_session
from nbctl_cloud.runtime.checkpoint import EXIT_PREEMPTED

# What a pushed script may carry of the working directory, packed: Kaggle does not document a
# limit on a kernel's source, and every version carries it again. Bigger: use --git.
WORKDIR_LIMIT = 4 * 1024 * 1024


def _read(url: str) -> bytes:
    import fsspec

    fs, path = fsspec.core.url_to_fs(url)
    return fs.cat_file(path)


def build(job: JobSpec, restart: int, stop_after: float, grace: float) -> str:
    """The source of attempt `restart`'s script. UserError when the packed working directory is
    over WORKDIR_LIMIT or nbctl's carried runtime is not the one the job was started with."""
    runtime = _read(job.runtime_url)
    if hashlib.sha256(runtime).hexdigest() != job.runtime_sha256:
        raise UserError(f"nbctl's runtime in {job.runtime_url} is not the one this job started "
                        "with: start the job again with `nbctl run`")
    workdir = _read(job.workdir_url) if job.workdir_url else b""
    if len(workdir) > WORKDIR_LIMIT:
        raise UserError(f"the working directory packs to {len(workdir)} bytes, over the "
                        f"{WORKDIR_LIMIT} a Kaggle script carries: leave files out with "
                        ".nbctlignore, or use --git")
    attempt = {"run_id": job.run_id, "restart": int(restart), "command": list(job.command),
               "git_url": job.git_url, "stop_after": round(float(stop_after), 3),
               "grace": float(grace), "exit_preempted": EXIT_PREEMPTED}
    source = Path(kaggle_session.__file__).read_text()
    return (f"{source}\n\n# -- this attempt, appended by nbctl --\n"
            f"ATTEMPT = json.loads({json.dumps(json.dumps(attempt, sort_keys=True))})\n"
            f"RUNTIME = {base64.b64encode(runtime).decode()!r}\n"
            f"WORKDIR = {base64.b64encode(workdir).decode()!r}\n"
            "if __name__ == '__main__':\n"
            "    sys.exit(main(ATTEMPT, RUNTIME, WORKDIR))\n")
