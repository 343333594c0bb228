"""The python3 of an emulated machine image (a Deep Learning VM, a Deep Learning AMI): the
frameworks and libraries are there, nbctl is not.

Docs: a Deep Learning VM image (cloud.google.com/deep-learning-vm/docs/images) and a Deep
Learning AMI (docs.aws.amazon.com/dlami) come with a conda or system Python holding numpy, the
frameworks and the cloud storage libraries, and nothing of nbctl. Here that is the interpreter
of a virtual environment made once per emulator (`venv`, no pip, no system site-packages)
whose one addition is a .pth file naming a folder of links to the test environment's installed
packages, every one but nbctl's own (its import package, its dist-info, an editable install's
hooks): numpy, fsspec, gcsfs, s3fs ... are importable, `nbctl_cloud` and `orchestrator` are not,
unless nbctl carries its runtime to the machine itself, as it must on a real one. Nothing is
put on PYTHONPATH.
"""
from __future__ import annotations

import os
import subprocess
import sysconfig
import venv
from pathlib import Path

# what of the test environment's site-packages is nbctl's own, and stays off the image
NBCTL_OWN = ("nbctl_cloud", "orchestrator", "providers", "configs", "__editable__")
NBCTL_DIST = "nbctl_cloud-"


def _nbctls(name: str) -> bool:
    low = name.lower()
    return low.startswith(NBCTL_OWN) or low.startswith(NBCTL_DIST) or "nbctl_cloud" in low


def image_python(base: Path) -> Path:
    """The image's python3 under `base` (made on the first call, then reused)."""
    env = base / "image-python"
    python = env / "bin" / "python3"
    if python.exists():
        return python
    venv.EnvBuilder(with_pip=False, symlinks=True).create(env)
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path("
                           "'purelib'))"], check=True, capture_output=True, text=True)
    packages = env / "image-packages"
    packages.mkdir(exist_ok=True)
    for folder in dict.fromkeys(sysconfig.get_path(k) for k in ("purelib", "platlib")):
        for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
            link = packages / name
            if not _nbctls(name) and not name.endswith(".pth") and not link.exists():
                link.symlink_to(Path(folder, name))
    Path(site.stdout.strip(), "dl-image-packages.pth").write_text(f"{packages}\n")
    return python
