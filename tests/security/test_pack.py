"""What a job carries to its machine, and where it can go: each test reproduces one finding of
the security review (secrets packed, unsafe unpacking, tokens in git URLs, shared checkpoint
folders, a job folder anyone can write, a checkpoint URL the machine cannot reach)."""
from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
import tarfile

import pytest
from nbctl_cloud.errors import UserError
from nbctl_cloud.runtime.job_launcher import own_folder
from nbctl_cloud.runtime import safe_tar
from nbctl_cloud.runtime.checkpoint import Checkpointer
from nbctl_cloud.runtime.workdir import ARCHIVE, MARKER, pack, unpack

from tests.conftest import REPO, run_nbctl
from tests.gcp.helpers import EmulatorProcess

TOKEN = "ghp_s3cr3tT0ken"


def write(path, text="x\n"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def project_with_secrets(root):
    write(root / "train.py", "print('hi')\n")
    write(root / "pkg" / "model.py", "W = 1\n")
    write(root / ".env", "API_KEY=1\n")
    write(root / ".env.production", "API_KEY=2\n")
    write(root / ".aws" / "credentials", "[default]\naws_secret_access_key=x\n")
    write(root / ".ssh" / "id_ed25519", "-----BEGIN OPENSSH PRIVATE KEY-----\n")
    write(root / "deploy" / "server.pem", "-----BEGIN PRIVATE KEY-----\n")
    write(root / ".kaggle" / "kaggle.json", '{"key": "x"}\n')
    write(root / ".config" / "gcloud" / "application_default_credentials.json", "{}\n")
    write(root / ".git-credentials", f"https://me:{TOKEN}@github.com\n")
    write(root / ".gitignore", "data/\n*.ckpt\n")
    write(root / "data" / "big.bin", "0" * 100)
    write(root / "weights.ckpt", "0" * 100)
    write(root / "pkg" / ".gitignore", "scratch.txt\n")
    write(root / "pkg" / "scratch.txt")
    write(root / ".nbctlignore", "notes/\n!keep.ckpt\n")
    write(root / "notes" / "todo.md")
    write(root / "keep.ckpt", "1\n")
    return root


def test_run_never_packs_env_files_cloud_credentials_or_ssh_keys(tmp_path):
    url = tmp_path / "store" / ARCHIVE
    pack(str(project_with_secrets(tmp_path / "p")), str(url))
    with tarfile.open(url) as tar:
        names = sorted(tar.getnames())
        owners = {(m.uid, m.uname) for m in tar.getmembers()}
    assert names == [".gitignore", ".nbctlignore", "keep.ckpt", "pkg/.gitignore",
                     "pkg/model.py", "train.py"]
    assert owners == {(0, "")}  # the laptop's user names stay on the laptop


def test_run_dry_run_lists_what_would_be_packed_and_creates_nothing(tmp_path):
    root = project_with_secrets(tmp_path / "p")
    emu = EmulatorProcess()
    try:
        r = run_nbctl("run", "dry1", "--provider", "gcp", "--gpu", "t4", "--preemptible",
                      "--zone", "us-central1-a", "--checkpoint-url", (tmp_path / "ck").as_uri(),
                      "--workdir", str(root), "--dry-run", "-o", "json", "--", "python3",
                      "train.py", env=emu.env())
        instances = emu.control("state")["instances"]
    finally:
        emu.close()
    assert r.returncode == 0, r.stderr
    shown = json.loads(r.stdout)
    assert sorted(f["path"] for f in shown["files"]) == [
        ".gitignore", ".nbctlignore", "keep.ckpt", "pkg/.gitignore", "pkg/model.py", "train.py"]
    assert shown["total_bytes"] == sum(f["bytes"] for f in shown["files"]) > 0
    assert instances == [] and not (tmp_path / "ck").exists()
    assert json.loads(run_nbctl("jobs", "list", "--all", "-o", "json").stdout) == []


# -- unpacking on the machine: both paths, tarfile's data filter and the older Pythons' one ---
PATHS = [pytest.param(True, id="data-filter"), pytest.param(False, id="by-hand")]


def archive(path, *members):
    """A gzipped tar of (TarInfo, bytes or None) as an attacker would craft it."""
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return str(path)


def entry(name, kind=tarfile.REGTYPE, linkname="", mode=0o644, uid=0):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode, info.uid, info.uname = kind, linkname, mode, uid, "x"
    return info


CRAFTED = {
    "absolute path": [(entry("/tmp/nbctl-owned"), b"x")],
    "dot-dot": [(entry("a/../../outside.txt"), b"x")],
    "symlink out": [(entry("up", tarfile.SYMTYPE, "../.."), None)],
    "absolute symlink": [(entry("etc", tarfile.SYMTYPE, "/etc"), None)],
    "write through a symlink": [(entry("d", tarfile.SYMTYPE, "."), None),
                                (entry("d/../../x.txt"), b"x")],
    "device file": [(entry("null", tarfile.CHRTYPE), None)],
    "fifo": [(entry("pipe", tarfile.FIFOTYPE), None)],
    "hard link out": [(entry("passwd", tarfile.LNKTYPE, "../../etc/passwd"), None)],
}


@pytest.mark.parametrize("data_filter", PATHS)
@pytest.mark.parametrize("craft", sorted(CRAFTED))
def test_unpacking_refuses_archives_crafted_to_escape_the_job_folder(tmp_path, craft,
                                                                     data_filter):
    work = tmp_path / "machine"
    work.mkdir()
    url = archive(work / "evil.tar.gz", *CRAFTED[craft])
    dest = work / "job" / "src"
    with pytest.raises(safe_tar.UnsafeArchive):
        unpack(url, str(dest), data_filter=data_filter)
    assert sorted(p.name for p in work.iterdir()) == ["evil.tar.gz", "job"]
    assert not (dest / MARKER).exists() and list(dest.iterdir()) == []


@pytest.mark.parametrize("data_filter", PATHS)
def test_unpacking_keeps_no_setuid_bits_or_foreign_owners_and_copies_hard_links(tmp_path,
                                                                                data_filter):
    url = archive(tmp_path / "a.tar.gz", (entry("bin/tool", mode=0o6777, uid=4242), b"#!\n"),
                  (entry("same", tarfile.LNKTYPE, "bin/tool"), None),
                  (entry("lib", tarfile.SYMTYPE, "bin"), None))
    dest = tmp_path / "job"
    assert unpack(url, str(dest), data_filter=data_filter) is True
    tool = (dest / "bin" / "tool").stat()
    assert stat.S_IMODE(tool.st_mode) & 0o7022 == 0 and tool.st_uid == os.geteuid()
    assert (dest / "same").read_bytes() == b"#!\n" and (dest / "lib" / "tool").exists()


@pytest.mark.parametrize("data_filter", PATHS)
@pytest.mark.parametrize("caps, why", [(dict(max_file=500), "one file"),
                                       (dict(max_total=1500), "limit"),
                                       (dict(max_members=2), "entries")])
def test_unpacking_refuses_an_archive_over_the_size_caps(tmp_path, caps, why, data_filter):
    url = archive(tmp_path / "bomb.tar.gz", *[(entry(f"f{i}"), b"\0" * 800) for i in range(3)])
    with pytest.raises(safe_tar.UnsafeArchive, match=why):
        unpack(url, str(tmp_path / "job"), data_filter=data_filter, **caps)
    assert list((tmp_path / "job").iterdir()) == []


# -- git URLs -------------------------------------------------------------------------------
def test_run_refuses_a_token_in_the_git_url_and_stores_it_nowhere(tmp_path):
    url = f"https://me:{TOKEN}@github.com/org/repo.git"
    r = run_nbctl("run", "git1", "--checkpoint-url", str(tmp_path / "ck"), "--git", url,
                  "--", "python3", "train.py")
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "credential helper" in r.stderr
    assert TOKEN not in r.stderr + r.stdout
    home = tmp_path / "nbctl-home"
    assert not any(TOKEN.encode() in p.read_bytes() for p in home.rglob("*") if p.is_file())
    assert not (tmp_path / "ck").exists()


def test_a_clone_that_fails_ends_the_attempt_with_git_s_reason(tmp_path):
    work = tmp_path / "src"
    work.mkdir()
    r = subprocess.run(
        [sys.executable, "-m", "nbctl_cloud.runtime.jobwrap", "--status-url",
         str(tmp_path / "ck" / "_nbctl" / "r1"), "--run-id", "r1", "--restart", "0",
         "--git-url", (tmp_path / "no-such-repo").as_uri(), "--", "true"],
        cwd=work, capture_output=True, text=True, timeout=120,
        env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert r.returncode == 127, r.stderr
    status = json.loads((tmp_path / "ck" / "_nbctl" / "r1" / "status-0.json").read_text())
    assert status["state"] == "exited" and status["exit_code"] == 127
    assert status["detail"].startswith("cannot clone the repository: ")
    assert "no-such-repo" in status["detail"]


# -- checkpoint folders ---------------------------------------------------------------------
def test_checkpoint_folders_are_created_private(tmp_path):
    url = tmp_path / "runs" / "exp1"
    Checkpointer(str(url), handle_sigterm=False).save({"w": [1, 2]}, 1)
    assert stat.S_IMODE(url.stat().st_mode) == 0o700
    assert stat.S_IMODE((url.parent).stat().st_mode) == 0o700
    for folder in [p for p in url.rglob("*") if p.is_dir()]:
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder


def test_a_checkpoint_planted_in_a_world_writable_folder_is_not_loaded(tmp_path, caplog):
    shared = tmp_path / "tmp-like"
    shared.mkdir()
    shared.chmod(0o1777)  # like /tmp in the README's old example
    planted = Checkpointer(str(shared / "ckpt"), handle_sigterm=False)  # another user's save
    planted.save({"w": [6, 6, 6]}, 999)
    (shared / "ckpt").chmod(0o777)
    with caplog.at_level("WARNING", logger="nbctl_cloud.runtime.checkpoint"):
        mine = Checkpointer(str(shared / "ckpt"), handle_sigterm=False)
    assert "writable by every user" in caplog.text
    with pytest.raises(UserError, match="chmod 700"):
        mine.load_latest()


# -- the job folder on the machine ----------------------------------------------------------
def test_a_link_planted_at_the_pid_file_is_replaced_not_written_through(tmp_path):
    victim = write(tmp_path / "etc-shadow", "root:secret\n")
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    (jobs / "r1.pid").symlink_to(victim)
    r = subprocess.run(
        [sys.executable, "-m", "nbctl_cloud.runtime.jobwrap", "--status-url",
         str(tmp_path / "ck"), "--run-id", "r1", "--restart", "0", "--pidfile",
         str(jobs / "r1.pid"), "--log", str(jobs / "r1.log"), "--", "true"],
        capture_output=True, text=True, timeout=120, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert r.returncode == 0, r.stderr
    assert victim.read_text() == "root:secret\n"
    assert stat.S_IMODE((jobs / "r1.log").stat().st_mode) == 0o600


def test_the_launcher_takes_back_a_job_folder_anyone_could_write(tmp_path):
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    jobs.chmod(0o1777)  # as the boot script used to leave it
    (jobs / "evil.pid").symlink_to("/proc/1/status")
    write(jobs / "r1.pid", "123")  # this user's own: kept
    own_folder(str(jobs), 0o755)
    assert stat.S_IMODE(jobs.stat().st_mode) == 0o755
    assert sorted(p.name for p in jobs.iterdir()) == ["r1.pid"]


# -- checkpoint URLs the machine can reach --------------------------------------------------
def test_gcp_run_refuses_a_laptop_path_as_checkpoint_url_before_creating_anything(tmp_path):
    emu = EmulatorProcess()
    try:
        r = run_nbctl("run", "far1", "--provider", "gcp", "--gpu", "t4", "--preemptible",
                      "--zone", "us-central1-a", "--checkpoint-url", str(tmp_path / "ck"),
                      "--", "python3", "train.py", env=emu.env())
        instances = emu.control("state")["instances"]
    finally:
        emu.close()
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "gs://" in r.stderr
    assert instances == [] and not (tmp_path / "ck").exists()
    assert json.loads(run_nbctl("jobs", "list", "--all", "-o", "json").stdout) == []


def test_a_job_whose_clone_fails_ends_failed_with_git_s_reason(tmp_path):
    r = run_nbctl("run", "git2", "--checkpoint-url", str(tmp_path / "ck"), "--git",
                  str(tmp_path / "no-such-repo"), "--follow", "-o", "json", "--", "true",
                  timeout=300)
    try:
        assert r.returncode == 1, r.stderr
        job = json.loads(r.stdout)
        assert job["state"] == "FAILED"
        assert job["detail"].startswith("cannot clone the repository: fatal:")
    finally:
        run_nbctl("down", "git2", "--yes")
