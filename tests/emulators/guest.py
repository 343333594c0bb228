"""What the emulators' machines that run for real have in common: an image's own python3, the
tools on their PATH, the power going out of every process of their session, and a disk
thrown away.

The image's python3 stands for a GPU image's own Python (a Deep Learning VM image, a Deep
Learning AMI, Paperspace's ML-in-a-Box: a Python with numpy, the frameworks and the cloud storage
libraries, and no nbctl): the interpreter of a virtual environment made once (`venv`, no pip, no
system site-packages) whose one addition is a .pth file naming a folder of links to the test
environment's installed packages, every one but nbctl's own (its import package, its dist-info,
an editable install's hooks). So numpy, fsspec, gcsfs, s3fs ... are importable there and nbctl
(`nbctl_cloud`, `orchestrator`) is not, unless nbctl carries its runtime to the machine itself,
as it must on a real one. Nothing is put on PYTHONPATH.
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


# what of the test environment's site-packages is nbctl's own, and stays off the image
NBCTL_OWN = ("nbctl_cloud", "orchestrator", "providers", "configs", "__editable__")


def _nbctls(name: str) -> bool:
    low = name.lower()
    return low.startswith(NBCTL_OWN) or "nbctl_cloud" in low


def image_python(env: Path) -> Path:
    """The image's python3 (see the module docstring), made in `env` unless it is there."""
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


def base_env(root: Path) -> dict[str, str]:
    """What every emulated machine's boot processes get: its root (NBCTL_ROOT), PATH, HOME."""
    return {"PATH": f"{root / 'emulator-bin'}:/usr/bin:/bin", "NBCTL_ROOT": str(root),
            "HOME": str(root / "root"), "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}


def boot(root: Path, argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """Run `argv` as the machine's boot under `root`, in a process group of its own (what a
    stop signals), its output appended to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    (root / "root").mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        return subprocess.Popen(argv, cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def write_tools(bin_dir: Path, tools: dict[str, str]) -> None:
    """Put each tool (name -> script text) in bin_dir, executable."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    for tool, text in tools.items():
        path = bin_dir / tool
        path.write_text(text)
        path.chmod(0o755)


def signal_machine(proc: subprocess.Popen | None, sig: int) -> None:
    """Send sig to every process of the machine whose boot proc is: the session proc leads
    (booted with start_new_session), whatever process group each is in, as a real machine's
    shutdown reaches every process (systemd-shutdown(8): "sends SIGTERM, then SIGKILL, to all
    remaining processes"). A job's wrapper leads a group of its own there."""
    if proc is None:
        return
    if not os.path.isdir("/proc"):  # no way to list a session: the boot's group, at least
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        return
    for pid in _session(proc.pid):
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def _session(sid: int) -> list[int]:
    """The processes of session sid, read from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getsid(int(entry)) == sid:
                    found.append(int(entry))
            except OSError:  # gone meanwhile
                pass
    return found


def power_off(proc: subprocess.Popen | None) -> None:
    """The power goes: SIGKILL to every process of the machine, and wait for proc to end."""
    if proc is None:
        return
    for _ in range(3):  # a process forked while the first pass ran goes in the next
        signal_machine(proc, signal.SIGKILL)
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
