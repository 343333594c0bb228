"""The Python an emulated cloud machine runs: a cloud image's own interpreter, without nbctl.

It stands for an image's Python with numpy and the frameworks (a Deep Learning VM image, the
Kaggle image): the interpreter of a virtual environment made once (`venv`, no pip, no system
site-packages) whose only addition is a .pth file naming the test environment's site-packages
folders, for numpy, fsspec, gcsfs. A .pth file adds a folder to sys.path but runs none of that
folder's own .pth files, so an editable install's import hook there stays off; and neither the
repository nor anything else is put on PYTHONPATH. So nbctl (`nbctl_cloud`, `orchestrator`) is
not importable there unless nbctl carries its runtime there itself, as it must on a real machine.
"""
from __future__ import annotations

import subprocess
import sysconfig
import venv
from pathlib import Path


def image_python(env: Path) -> Path:
    """The interpreter of the environment at `env`, made there the first time."""
    python = env / "bin" / "python3"
    if not python.exists():
        venv.EnvBuilder(with_pip=False, symlinks=True).create(env)
        site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path("
                               "'purelib'))"], check=True, capture_output=True, text=True)
        folders = dict.fromkeys(sysconfig.get_path(k) for k in ("purelib", "platlib"))
        Path(site.stdout.strip(), "dl-image-packages.pth").write_text("\n".join(folders) + "\n")
    return python
