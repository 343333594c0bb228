"""What the emulators' machines that run for real have in common: an image's own python3, the
tools on their PATH, the power going out of their process group, and a disk thrown away.

The image's python3 stands for a GPU image's own Python (a Deep Learning VM image, Paperspace's
ML-in-a-Box: a Python with numpy and the frameworks, and no nbctl): the interpreter of a virtual
environment made once (`venv`, no pip, no system site-packages) whose only addition is a .pth
file naming the test environment's site-packages folders, for numpy, fsspec, gcsfs. A .pth file
adds a folder to sys.path but runs none of that folder's own .pth files, so an editable install's
import hook there stays off; and neither the repository nor anything else is put on PYTHONPATH.
So nbctl (`nbctl_cloud`, `orchestrator`) is not importable on the machine unless nbctl carries
its runtime there itself, as it must on a real machine.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sysconfig
import time
import venv
from pathlib import Path


def image_python(env: Path) -> Path:
    """The image's python3 (see the module docstring), made in `env` unless it is there."""
    python = env / "bin" / "python3"
    if not python.exists():
        venv.EnvBuilder(with_pip=False, symlinks=True).create(env)
        site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path("
                               "'purelib'))"], check=True, capture_output=True, text=True)
        folders = dict.fromkeys(sysconfig.get_path(k) for k in ("purelib", "platlib"))
        Path(site.stdout.strip(), "dl-image-packages.pth").write_text("\n".join(folders) + "\n")
    return python


def write_tools(bin_dir: Path, tools: dict[str, str]) -> None:
    """Put each tool (name -> script text) in bin_dir, executable."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    for tool, text in tools.items():
        path = bin_dir / tool
        path.write_text(text)
        path.chmod(0o755)


def signal_group(proc: subprocess.Popen | None, sig: int) -> None:
    """Send sig to the process group that proc leads, if it is still there."""
    if proc is None:
        return
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def power_off(proc: subprocess.Popen | None) -> None:
    """The power goes: SIGKILL to proc's group, and wait for proc to end."""
    if proc is None:
        return
    signal_group(proc, signal.SIGKILL)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def wipe(root: Path) -> None:
    """Delete a machine's disk; a killed process may still be finishing a write in there."""
    for _ in range(100):
        shutil.rmtree(root, ignore_errors=True)
        if not root.exists():
            return
        time.sleep(0.05)
