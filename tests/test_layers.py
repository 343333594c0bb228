"""The layers of DESIGN.md hold: import-linter's contracts in pyproject.toml pass on the tree,
and fail on a cycle added on purpose, whether the import sits in a function or under
TYPE_CHECKING.

import-linter reads a package from the file system; an editable install maps providers/ into
nbctl_cloud from outside orchestrator/, so each test lints a copy laid out as it installs.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO

pytest.importorskip("importlinter", reason="import-linter is part of the test extra")


def installed_layout(tmp_path: Path) -> Path:
    """tmp_path/nbctl_cloud as a wheel installs it, with the project's import-linter config."""
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(REPO / "orchestrator", tmp_path / "nbctl_cloud", ignore=ignore)
    shutil.copytree(REPO / "providers", tmp_path / "nbctl_cloud" / "providers", ignore=ignore)
    shutil.copytree(REPO / "configs", tmp_path / "nbctl_cloud" / "configs", ignore=ignore)
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def lint(root: Path) -> subprocess.CompletedProcess:
    code = "import sys; from importlinter.cli import lint_imports_command; " \
           "sys.exit(lint_imports_command())"
    return subprocess.run([sys.executable, "-c", code, "--no-cache"], cwd=root,
                          env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True)


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    return installed_layout(tmp_path_factory.mktemp("layout"))


def test_every_contract_is_kept(tree):
    r = lint(tree)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 broken" in r.stdout


@pytest.mark.parametrize("module,addition,broken", [
    ("model.py", "\n\ndef _late():\n    from . import lifecycle  # noqa: F401\n",
     "nbctl_cloud.model is not allowed to import nbctl_cloud.lifecycle"),
    ("store/__init__.py" if (REPO / "orchestrator" / "store").is_dir() else "store.py",
     "\nfrom typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from nbctl_cloud import jobs\n",
     "is not allowed to import nbctl_cloud.jobs"),
    ("provider.py", "\n\ndef _late():\n    from .cli import app  # noqa: F401\n",
     "nbctl_cloud.provider is not allowed to import nbctl_cloud.cli"),
])
def test_a_cycle_added_on_purpose_breaks_the_layers(tmp_path, module, addition, broken):
    root = installed_layout(tmp_path)
    with (root / "nbctl_cloud" / module).open("a") as f:
        f.write(addition)
    r = lint(root)
    assert r.returncode == 1, r.stdout + r.stderr
    assert broken in r.stdout


def test_a_provider_that_reaches_into_the_lifecycle_is_refused(tmp_path):
    root = installed_layout(tmp_path)
    with (root / "nbctl_cloud" / "providers" / "local" / "__init__.py").open("a") as f:
        f.write("\n\ndef _late():\n    from nbctl_cloud import lifecycle  # noqa: F401\n")
    r = lint(root)
    assert r.returncode == 1 and "nbctl_cloud.lifecycle" in r.stdout, r.stdout


def test_a_cloud_sdk_imported_by_the_core_is_refused(tmp_path):
    root = installed_layout(tmp_path)
    with (root / "nbctl_cloud" / "lifecycle.py").open("a") as f:
        f.write("\n\ndef _late():\n    import boto3  # noqa: F401\n")
    r = lint(root)
    assert r.returncode == 1 and "boto3" in r.stdout, r.stdout
