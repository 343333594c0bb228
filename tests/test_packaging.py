"""What installing nbctl puts on a machine: one import package of its own, nbctl_cloud, under a
distribution name no other project holds, and README install lines that never reach a package
index for a name that is not nbctl's."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser

import pytest

from .conftest import REPO


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    out, src = tmp_path_factory.mktemp("wheel"), tmp_path_factory.mktemp("source")
    # Built from a copy: a build leaves an egg-info folder that would shadow the installed
    # distribution's metadata for processes started in the repository.
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    for name in ("orchestrator", "providers", "configs"):
        shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                        "--no-build-isolation", "-w", str(out), str(src)],
                       capture_output=True, text=True)
    if r.returncode != 0 and "No module named" in r.stderr:
        pytest.skip(f"cannot build a wheel here without build isolation: {r.stderr.strip()}")
    assert r.returncode == 0, r.stderr
    (path,) = out.glob("*.whl")
    return zipfile.ZipFile(path)


def test_the_wheel_installs_exactly_one_top_level_package(wheel):
    tops = {name.split("/")[0] for name in wheel.namelist()}
    dist_info = {t for t in tops if t.endswith(".dist-info")}
    assert tops - dist_info == {"nbctl_cloud"}
    assert len(dist_info) == 1 and dist_info.pop().startswith("nbctl_cloud-")


def test_the_distribution_is_nbctl_cloud_and_the_command_is_nbctl(wheel):
    meta = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
    assert Parser().parsestr(wheel.read(meta).decode())["Name"] == "nbctl-cloud"
    entry = next(n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt"))
    assert "nbctl = nbctl_cloud.cli:main" in wheel.read(entry).decode()


def test_the_data_and_the_machine_runtime_travel_inside_the_package(wheel):
    names = set(wheel.namelist())
    assert {"nbctl_cloud/configs/gpus.toml", "nbctl_cloud/runtime/nbctl_agent.py",
            "nbctl_cloud/providers/gcp/__init__.py"} <= names
    code = [n for n in names if n.startswith("nbctl_cloud/configs/") and n.endswith(".py")]
    assert code == ["nbctl_cloud/configs/__init__.py"]  # a marker only: configs holds data
    assert wheel.read("nbctl_cloud/configs/__init__.py").decode().count("\n") <= 1


def test_the_dashboard_s_pages_and_scripts_travel_inside_the_package(wheel):
    names = set(wheel.namelist())
    assert {f"nbctl_cloud/ui/templates/{p}.html" for p in ("base", "machines", "jobs", "job",
                                                           "money")} <= names
    assert {"nbctl_cloud/ui/static/app.js", "nbctl_cloud/ui/static/app.css"} <= names


def pip_installs(text: str) -> list[str]:
    """The targets of every `pip install` in a text, without options."""
    found = []
    for m in re.finditer(r"pip install ([^`\n&;|)]+)", text):
        found += [w.strip("'\"") for w in m.group(1).split() if not w.startswith("-")]
    return found


def test_readme_installs_only_from_the_repository():
    targets = pip_installs((REPO / "README.md").read_text())
    assert targets, "the README has install lines"
    for target in targets:
        name = re.split(r"[\[<>=]", target)[0]
        local = name.startswith((".", "/", "git+")) or (REPO / name).is_dir()
        assert local, f"{target}: README installs must come from this repository"


def test_nothing_in_the_product_tells_anyone_to_install_the_other_nbctl():
    offenders = []
    for path in list((REPO / "orchestrator").rglob("*.py")) + list((REPO / "providers").rglob("*.py")):
        text = path.read_text()
        if re.search(r"pip install '?nbctl\b(?!-)", text) or "nbctl[" in text:
            offenders.append(str(path.relative_to(REPO)))
    assert offenders == []


def test_an_extra_is_advised_from_the_folder_nbctl_was_installed_from():
    from nbctl_cloud.registry import install_hint
    # the test command installs this repository (editable), so that is where extras come from
    assert install_hint("gcp").startswith(f"pip install '{REPO}[gcp]'")


def test_every_package_folder_is_listed_for_installation():
    import tomllib
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    roots = {"nbctl_cloud": "orchestrator", "nbctl_cloud.providers": "providers",
             "nbctl_cloud.configs": "configs"}
    assert config["package-dir"] == roots
    on_disk = set()
    for package, folder in roots.items():
        for init in (REPO / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO / folder).parts
            on_disk.add(".".join((package, *rel)))
    assert set(config["packages"]) == on_disk
