"""The working directory `nbctl run` carries to a cloud machine: packed without version control
and caches, refused over the limit before anything is written, unpacked once, never outside
its folder."""
from __future__ import annotations

import io
import tarfile

import pytest
from nbctl_cloud.errors import UserError
from nbctl_cloud.runtime.workdir import MARKER, pack, unpack


def project(tmp_path):
    root = tmp_path / "project"
    (root / "pkg" / "__pycache__").mkdir(parents=True)
    (root / "pkg" / "model.py").write_text("W = 1\n")
    (root / "pkg" / "__pycache__" / "model.cpython-311.pyc").write_bytes(b"\0" * 10)
    (root / ".venv" / "lib").mkdir(parents=True)
    (root / ".venv" / "lib" / "big.so").write_bytes(b"\0" * 1000)
    (root / "train.py").write_text("print('hi')\n")
    return root


def test_pack_then_unpack_gives_the_sources_without_caches(tmp_path):
    url = str(tmp_path / "store" / "workdir.tar.gz")
    assert pack(str(project(tmp_path)), url) == len("W = 1\n") + len("print('hi')\n")
    dest = tmp_path / "vm"
    assert unpack(url, str(dest)) is True
    files = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert files == [MARKER, "pkg/model.py", "train.py"]


def test_a_second_attempt_keeps_what_the_first_one_left(tmp_path):
    url = str(tmp_path / "store" / "workdir.tar.gz")
    pack(str(project(tmp_path)), url)
    dest = tmp_path / "vm"
    unpack(url, str(dest))
    (dest / "train.py").write_text("changed by the job\n")
    assert unpack(url, str(dest)) is False
    assert (dest / "train.py").read_text() == "changed by the job\n"


def test_too_big_a_directory_is_refused_before_anything_is_written(tmp_path):
    url = tmp_path / "store" / "workdir.tar.gz"
    with pytest.raises(UserError, match="--git"):
        pack(str(project(tmp_path)), str(url), limit=5)
    assert not url.exists() and not url.parent.exists()


def test_an_archive_reaching_outside_its_folder_is_refused(tmp_path):
    url = tmp_path / "evil.tar.gz"
    with tarfile.open(url, "w:gz") as tar:
        data = b"owned\n"
        info = tarfile.TarInfo("../outside.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(Exception):
        unpack(str(url), str(tmp_path / "vm"))
    assert not (tmp_path / "outside.txt").exists()
    assert not (tmp_path / "vm" / MARKER).exists()
