"""A job's working directory, carried to a cloud machine through the job's own storage.

`nbctl run` packs the directory into `<checkpoint>/_nbctl/<run_id>/workdir.tar.gz` before it
creates anything; on the machine, jobwrap unpacks it into the job's folder once (a marker
file, written last, tells a later attempt on the same disk that it is there).

What is left out, in gitignore syntax, the last rule that matches deciding: version control
folders, virtual environments, caches and secrets (`LEFT_OUT`: .env files, cloud and SSH
credentials, keys); then the directory's `.gitignore` files; then its `.nbctlignore`, which may
also take a file back with `!pattern`. Links are never followed. A directory over the size limit
is refused with the advice to use --git instead. `nbctl run --dry-run` shows `plan`'s list.
A job given --git instead is cloned by `clone` on the machine, once, git never prompting.
Packing (on the laptop) uses pathspec; unpacking and cloning (on the machine) the standard
library only (unpacking through safe_tar).
"""
from __future__ import annotations

import os
import posixpath
import tarfile

from ..errors import UserError

ARCHIVE = "workdir.tar.gz"
MARKER = ".nbctl-workdir"
IGNORE_FILE = ".nbctlignore"
LIMIT_BYTES = 200 * 1024 * 1024
LEFT_OUT = (
    # version control, environments, caches
    ".git/", ".hg/", ".svn/", ".venv/", "venv/", "__pycache__/", ".ipynb_checkpoints/",
    "node_modules/", ".mypy_cache/", ".pytest_cache/", ".ruff_cache/", ".tox/", "*.pyc",
    # secrets: environment files, cloud, SSH and package-index credentials, private keys
    ".env", ".env.*", ".envrc", ".aws/", ".ssh/", ".gnupg/", ".azure/", ".kube/",
    ".config/gcloud/", ".docker/config.json", ".kaggle/kaggle.json", "kaggle.json", ".netrc",
    "_netrc", ".git-credentials", ".pypirc", ".npmrc", ".boto", ".s3cfg",
    "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*", "*.pem", "*.key", "*.p12", "*.pfx",
    "*.jks", "*.keystore", "credentials.json", "client_secret*.json", "service-account*.json",
)


class _Rules:
    """Which paths (relative, '/'-separated) stay behind: see the module docstring."""

    def __init__(self, directory: str):
        import pathspec

        self._spec = pathspec.GitIgnoreSpec.from_lines
        self.directory = directory
        self.steps = [("", self._spec(LEFT_OUT))]  # (folder, rules), shallow to deep
        self.last = self._read(IGNORE_FILE)

    def _read(self, rel: str):
        path = os.path.join(self.directory, rel)
        if os.path.islink(path) or not os.path.isfile(path):
            return None
        with open(path, encoding="utf-8", errors="replace") as f:
            return self._spec(f.read().splitlines())

    def enter(self, folder: str) -> None:
        spec = self._read(posixpath.join(folder, ".gitignore"))
        if spec is not None:
            self.steps.append((folder, spec))

    def left_out(self, rel: str, is_dir: bool) -> bool:
        key = rel + "/" if is_dir else rel
        verdict = False
        for folder, spec in self.steps + [("", self.last)]:
            if spec is None or (folder and not key.startswith(folder + "/")):
                continue
            include = spec.check_file(key[len(folder) + 1:] if folder else key).include
            if include is not None:
                verdict = include
        return verdict


def plan(directory: str) -> list[tuple[str, int]]:
    """(path relative to `directory`, size) of every file `pack` would carry, in order."""
    rules = _Rules(directory)
    chosen = []
    for root, dirs, files in os.walk(directory):
        folder = os.path.relpath(root, directory).replace(os.sep, "/")
        folder = "" if folder == "." else folder
        rules.enter(folder)
        dirs[:] = sorted(d for d in dirs if not os.path.islink(os.path.join(root, d))
                         and not rules.left_out(posixpath.join(folder, d), True))
        for name in sorted(files):
            path, rel = os.path.join(root, name), posixpath.join(folder, name)
            if os.path.islink(path) or not os.path.isfile(path) or rules.left_out(rel, False):
                continue
            chosen.append((rel, os.path.getsize(path)))
    return chosen


def check_size(directory: str, files: list[tuple[str, int]], limit: int = LIMIT_BYTES) -> int:
    """The bytes `files` hold; UserError when that is over `limit`."""
    total = sum(size for _, size in files)
    if total > limit:
        raise UserError(f"{directory} holds {total / 2**20:.0f} MB to carry to the machine "
                        f"(over {limit / 2**20:.0f} MB): run from a smaller --workdir, leave "
                        f"files out in {IGNORE_FILE}, or give --git URL")
    return total


def _anonymous(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """No laptop user names or ids, and plain modes, in the archive."""
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o755 if info.mode & 0o100 else 0o644
    return info


def pack(directory: str, url: str, limit: int = LIMIT_BYTES) -> int:
    """Upload `directory` as a gzipped tar to `url`; returns the bytes packed. Raises
    UserError, before writing anything, when it holds more than `limit` bytes."""
    files = plan(directory)
    total = check_size(directory, files, limit)
    import fsspec

    from .checkpoint_dirs import make_private

    fs, path = fsspec.core.url_to_fs(url)
    if "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)):
        make_private(os.path.dirname(path))
    with fs.open(path, "wb") as out, tarfile.open(fileobj=out, mode="w:gz") as tar:
        for rel, _ in files:
            tar.add(os.path.join(directory, rel), arcname=rel, recursive=False,
                    filter=_anonymous)
    return total


def unpack(url: str, directory: str, **caps) -> bool:
    """Unpack the archive at `url` into `directory` unless an earlier attempt did; returns
    whether it unpacked. Raises safe_tar.UnsafeArchive, before writing, for a member that
    would land outside `directory`, a device file, or sizes over the caps."""
    marker = os.path.join(directory, MARKER)
    if os.path.exists(marker):
        return False
    import fsspec

    from .safe_tar import extract

    os.makedirs(directory, exist_ok=True)
    with fsspec.open(url, "rb") as f, tarfile.open(fileobj=f, mode="r:gz") as tar:
        extract(tar, directory, **caps)
    _write_marker(marker, url)
    return True


def clone(url: str, directory: str, timeout: float = 600) -> bool:
    """Clone `url` into the folder `directory` unless an earlier attempt did; returns whether
    it cloned. git never prompts (no terminal); OSError with git's own last line on failure."""
    import shutil
    import subprocess

    marker = os.path.join(directory, MARKER)
    if os.path.exists(marker):
        return False
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):  # what a clone killed half-way left
        path = os.path.join(directory, name)
        shutil.rmtree(path) if os.path.isdir(path) and not os.path.islink(path) else os.unlink(path)
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0")
    try:
        done = subprocess.run(["git", "clone", "--quiet", "--", url, "."], cwd=directory, env=env,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        raise OSError(f"git clone took over {timeout:.0f} s") from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.startswith("fatal:")]
        raise OSError(lines[0] if lines else f"git clone exited with {done.returncode}")
    _write_marker(marker, url)
    return True


def _write_marker(marker: str, text: str) -> None:
    tmp = f"{marker}.{os.getpid()}.tmp"
    if os.path.lexists(tmp):
        os.unlink(tmp)
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644), "w") as f:
        f.write(text + "\n")
    os.replace(tmp, marker)  # replaces a link planted there, never writes through it
