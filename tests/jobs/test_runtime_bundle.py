"""nbctl's carried machine runtime: packed the same way every time, checked by sha256 before
anything of it is unpacked, and enough on its own for the job wrapper and the checkpoint helper
on a Python that has no nbctl."""
from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys

import pytest
from nbctl_cloud import runtime_bundle
from nbctl_cloud.model import InstanceSpec, JobSpec
from nbctl_cloud.runtime.carry import RuntimeMismatch, install, report_failure


def bare_python(runtime: str, code: str, *args: str) -> subprocess.CompletedProcess:
    """This interpreter without site-packages (-S: no nbctl install, no fsspec, no numpy), with
    only the carried runtime on PYTHONPATH: the machine's python3 at its barest."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": runtime,
           "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, "-S", "-c", code, *args], env=env, cwd="/",
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def uploaded(tmp_path):
    url = str(tmp_path / "store" / runtime_bundle.ARCHIVE)
    return url, runtime_bundle.upload(url)


def test_the_same_files_pack_to_the_same_bytes_and_sha256():
    first = runtime_bundle.pack(runtime_bundle.members())
    again = runtime_bundle.pack(runtime_bundle.members())
    assert first == again
    assert first.sha256 == hashlib.sha256(first.data).hexdigest()
    changed = runtime_bundle.pack([(n, c + b"\n") for n, c in runtime_bundle.members()])
    assert changed.sha256 != first.sha256


def test_the_runtime_carries_the_runtime_package_and_the_errors_module_only():
    names = [n for n, _ in runtime_bundle.members()]
    assert names == sorted(names)
    assert {"nbctl_cloud/__init__.py", "nbctl_cloud/errors.py", "nbctl_cloud/runtime/jobwrap.py",
            "nbctl_cloud/runtime/checkpoint.py", "nbctl_cloud/runtime/workdir.py",
            "nbctl_cloud/runtime/safe_tar.py", "nbctl_cloud/runtime/carry.py"} <= set(names)
    assert all(n.startswith("nbctl_cloud/runtime/") or n in ("nbctl_cloud/__init__.py",
                                                              "nbctl_cloud/errors.py")
               for n in names)


def test_a_job_imports_the_checkpoint_helper_from_the_runtime_on_a_bare_python(
        tmp_path, uploaded):
    url, bundle = uploaded
    runtime = install(url, bundle.sha256, str(tmp_path / "runtime"))
    assert runtime == str(tmp_path / "runtime" / bundle.sha256)
    r = bare_python(runtime, "import sys; from nbctl_cloud.runtime.checkpoint import Checkpointer;"
                             " import nbctl_cloud.runtime.jobwrap, nbctl_cloud.errors as e;"
                             " print(sys.modules['nbctl_cloud'].__file__);"
                             " print(issubclass(e.UserError, e.NbctlError))")
    assert r.returncode == 0, r.stderr
    where, ok = r.stdout.split()
    assert where == os.path.join(runtime, "nbctl_cloud", "__init__.py") and ok == "True"
    assert bare_python("", "import nbctl_cloud").returncode != 0  # nothing else brought it


def test_a_tampered_runtime_is_refused_and_nothing_is_unpacked(tmp_path, uploaded):
    url, bundle = uploaded
    with open(url, "ab") as f:
        f.write(b"\0")  # one byte more, after `nbctl run` packed it
    with pytest.raises(RuntimeMismatch, match="refusing to run it"):
        install(url, bundle.sha256, str(tmp_path / "runtime"))
    assert not (tmp_path / "runtime" / bundle.sha256).exists()


def test_a_runtime_with_a_file_outside_the_package_is_refused_even_with_its_hash(tmp_path):
    odd = runtime_bundle.pack([("nbctl_cloud/__init__.py", b""), ("run-me.sh", b"echo hi\n")])
    url = tmp_path / "odd.tar.gz"
    url.write_bytes(odd.data)
    with pytest.raises(RuntimeMismatch, match="run-me.sh"):
        install(str(url), odd.sha256, str(tmp_path / "runtime"))
    assert not (tmp_path / "runtime" / odd.sha256).exists()


def test_the_runtime_is_unpacked_once_per_hash_and_nobody_else_can_write_it(tmp_path, uploaded):
    url, bundle = uploaded
    root = tmp_path / "runtime"
    runtime = install("file://" + url, bundle.sha256, str(root))
    os.unlink(url)  # a second attempt on the same disk fetches nothing
    assert install("file://" + url, bundle.sha256, str(root)) == runtime
    for folder, dirs, files in os.walk(root):
        for path in [folder] + [os.path.join(folder, f) for f in files]:
            assert not os.lstat(path).st_mode & (stat.S_IWGRP | stat.S_IWOTH), path
    assert stat.S_IMODE(os.stat(runtime).st_mode) == 0o755


def test_a_failure_to_start_is_reported_as_the_attempt_status(tmp_path):
    report_failure(str(tmp_path / "ck" / "_nbctl" / "r1"), "r1", 2, "cannot run nbctl's runtime")
    status = json.loads((tmp_path / "ck" / "_nbctl" / "r1" / "status-2.json").read_text())
    assert status["state"] == "exited" and status["exit_code"] == 127
    assert status["detail"] == "cannot run nbctl's runtime" and status["restart"] == 2


def test_carry_puts_the_runtime_beside_the_workdir_and_names_its_hash(tmp_path):
    job = JobSpec(run_id="r1", instance=InstanceSpec(name="a", provider="local"),
                  command=["true"], checkpoint_url=str(tmp_path / "ck"))
    carried = runtime_bundle.carry(job)
    assert carried.runtime_url == f"{job.status_url}/{runtime_bundle.ARCHIVE}"
    data = (tmp_path / "ck" / "_nbctl" / "r1" / runtime_bundle.ARCHIVE).read_bytes()
    assert carried.runtime_sha256 == hashlib.sha256(data).hexdigest()
    assert runtime_bundle.carried(carried) is carried  # a spec that names its runtime keeps it
    assert JobSpec.from_json(carried.to_json()) == carried  # the store keeps both


def test_the_machine_gets_fsspec_and_the_driver_its_checkpoint_url_needs_pinned():
    from importlib.metadata import version
    assert runtime_bundle.requirements("/data/ck") == [f"fsspec=={version('fsspec')}"]
    assert runtime_bundle.requirements("gs://b/ck") == [f"fsspec=={version('fsspec')}",
                                                        f"gcsfs=={version('gcsfs')}"]
    assert runtime_bundle.requirements("s3://b/ck")[1] == f"s3fs=={version('s3fs')}"


def test_only_the_requirements_this_python_lacks_are_installed():
    from nbctl_cloud.runtime.carry import ensure_packages, missing
    assert missing(["fsspec==0.0.1", "nbctl_no_such_module==1.0"]) == ["nbctl_no_such_module==1.0"]
    assert ensure_packages(["fsspec==0.0.1"]) == []  # there already: pip never runs
