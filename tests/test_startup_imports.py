"""`nbctl --help` and `nbctl status` must not import any cloud SDK (start-up stays fast)."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import startup_modules

FORBIDDEN = ("boto3", "botocore", "google", "grpc", "httpx", "moto", "jupyterlab", "jupyter_server",
             # named on their own too: the colab extra's SDK takes seconds to import
             "google.cloud.aiplatform", "google.cloud.aiplatform_v1")


def forbidden(module: str) -> bool:
    return any(module == f or module.startswith(f + ".") for f in FORBIDDEN)


UI = ("starlette", "uvicorn", "jinja2", "multipart", "python_multipart", "anyio", "playwright")


def imported_modules(*args: str) -> set[str]:
    code = ("import sys\nfrom nbctl_cloud.cli import main\n"
            f"rc = main({list(args)!r})\n"
            "print('\\n'.join(sorted(sys.modules)))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    return set(out.split()) - startup_modules()


@pytest.mark.parametrize("args", [["--help"], ["status"], ["list"], ["gpus"],
                                  ["gpus", "--provider", "colab"], ["providers", "colab"]])
def test_command_imports_no_cloud_sdk(args):
    mods = imported_modules(*args)
    bad = sorted(m for m in mods if forbidden(m))
    assert bad == [], f"nbctl {' '.join(args)} imported {bad[:10]}"


def test_help_does_not_import_the_store():
    mods = imported_modules("--help")
    assert "sqlalchemy" not in mods
    assert "nbctl_cloud.store" not in mods


def test_help_loads_only_the_cli_and_the_error_taxonomy():
    mods = {m for m in imported_modules("--help") if m.startswith("nbctl_cloud")}
    assert "logging" not in imported_modules("--help")
    assert mods - {"nbctl_cloud", "nbctl_cloud.errors"} == {
        "nbctl_cloud.cli", "nbctl_cloud.cli.app", "nbctl_cloud.cli.common",
        "nbctl_cloud.cli.instances", "nbctl_cloud.cli.policies", "nbctl_cloud.cli.providers",
        "nbctl_cloud.cli.run", "nbctl_cloud.cli.ui"}


@pytest.mark.parametrize("args", [["--help"], ["status"], ["ui", "--help"]])
def test_command_imports_nothing_of_the_dashboard(args):
    mods = imported_modules(*args)
    bad = sorted(m for m in mods if m.split(".")[0] in UI or m.startswith("nbctl_cloud.ui"))
    assert bad == [], f"nbctl {' '.join(args)} imported {bad[:10]}"


def test_provider_metadata_loads_without_its_sdk():
    from nbctl_cloud.registry import provider_class
    cls = provider_class("local")
    assert cls.name == "local"
