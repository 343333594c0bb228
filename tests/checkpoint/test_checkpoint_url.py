"""Checkpoint URLs are checked before anything is created, and the helper imports almost nothing."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from nbctl_cloud.errors import UserError
from nbctl_cloud.runtime.checkpoint import Checkpointer, check_url

from tests.checkpoint.helpers import PYTHON, child_env
from tests.conftest import startup_modules


@pytest.mark.parametrize("url", ["/data/ckpt", "relative/ckpt", "file:///data/ckpt",
                                 "memory://ckpt", "s3://bucket/run1", "gs://bucket/run1"])
def test_urls_this_machine_can_write_pass(url):
    check_url(url)


def test_a_scheme_whose_package_is_missing_names_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "adlfs", None)  # as if not installed, even where it is
    with pytest.raises(UserError, match=r"pip install adlfs"):
        check_url("abfs://container/run1")


def test_s3_without_s3fs_is_refused_at_construction(monkeypatch):
    monkeypatch.setitem(sys.modules, "s3fs", None)
    with pytest.raises(UserError, match=r"pip install s3fs"):
        Checkpointer("s3://bucket/run1", handle_sigterm=False)


def test_gs_without_gcsfs_names_gcsfs(monkeypatch):
    monkeypatch.setitem(sys.modules, "gcsfs", None)
    with pytest.raises(UserError, match=r"pip install gcsfs"):
        check_url("gs://bucket/run1")


def test_an_unknown_scheme_is_refused():
    with pytest.raises(UserError, match="unknown storage scheme 'nosuch'"):
        check_url("nosuch://bucket/run1")


@pytest.mark.parametrize("url", ["s3://", "gs:///"])
def test_an_object_store_url_needs_a_bucket(url):
    with pytest.raises(UserError, match="bucket"):
        check_url(url)


@pytest.mark.parametrize("url", ["", "   ", None])
def test_an_empty_url_is_refused(url):
    with pytest.raises(UserError, match="checkpoint URL"):
        check_url(url)


NOT_AT_IMPORT = ("click", "sqlalchemy", "boto3", "botocore", "google", "grpc", "httpx", "s3fs",
                 "gcsfs", "fsspec", "numpy", "torch")


def modules_after(code: str, url: str) -> set[str]:
    code = textwrap.dedent(code) + "\nimport sys\nprint('\\n'.join(sorted(sys.modules)))\n"
    out = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, check=True,
                         env=child_env(url)).stdout
    return {m.split(".")[0] for m in set(out.split()) - startup_modules()}


def test_importing_the_helper_imports_no_sdk_cli_store_or_array_library(tmp_path):
    loaded = modules_after("import nbctl_cloud.runtime.checkpoint", str(tmp_path))
    assert sorted(loaded & set(NOT_AT_IMPORT)) == []


def test_a_plain_state_on_a_local_path_needs_neither_numpy_nor_torch(tmp_path):
    loaded = modules_after("""
        from nbctl_cloud.runtime import checkpoint
        checkpoint.save({"step": 3, "lr": 0.1}, 3)
        assert checkpoint.load_latest().state == {"step": 3, "lr": 0.1}
    """, str(tmp_path))
    assert "fsspec" in loaded
    assert sorted(loaded & {"numpy", "torch", "click", "sqlalchemy", "boto3", "google"}) == []


def test_module_level_save_and_load_use_the_environment(tmp_path):
    url = str(tmp_path / "env-ckpt")
    code = """
        from nbctl_cloud.runtime import checkpoint
        checkpoint.save({"a": [1, 2]}, 4)
        state, step = checkpoint.load_latest()
        print("loaded", step, state, checkpoint.restart_count())
    """
    out = subprocess.run([PYTHON, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                         env=child_env(url, NBCTL_RESTART="2"), check=True).stdout
    assert "loaded 4 {'a': [1, 2]} 2" in out


@pytest.mark.parametrize("url, says", [("nosuch://bucket/run1", "unknown storage scheme"),
                                       ("s3://", "names no bucket")])
def test_nbctl_run_refuses_a_bad_checkpoint_url_before_creating_anything(nbctl, url, says):
    result = nbctl("run", "job1", "--provider", "local", "--checkpoint-url", url, "--output",
                   "json", "--", "python", "train.py")
    assert result.returncode == 2, result.stdout + result.stderr
    assert says in result.stdout + result.stderr
    listed = nbctl("list", "--output", "json")
    assert "job1" not in listed.stdout
