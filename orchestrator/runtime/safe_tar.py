"""Unpacking an archive that came over the network, as root, without trusting it.

Every member is checked before anything is written: no absolute names, no `..`, no device
files or fifos, no link that leads outside the target, and a cap on the number of members, on
each file and on the total. Then, on Python 3.11.4 and later, tarfile's own `filter="data"`
extracts; on an older Python (the machine's own), `_extract_by_hand` does what that filter does:
no archive owners (files belong to whoever unpacks), no setuid/setgid/sticky bits or group/other
write, hard links copied, and nothing written through a symlink that leads out. Standard
library only, Python 3.7 syntax: this runs on the machine.
"""
from __future__ import annotations

import os
import posixpath
import tarfile

MAX_TOTAL_BYTES = 2 * 1024 ** 3
MAX_FILE_BYTES = 1024 ** 3
MAX_MEMBERS = 200000
HAS_DATA_FILTER = hasattr(tarfile, "data_filter")  # Python 3.11.4, 3.10.12, 3.9.17, 3.8.17
CHUNK = 1 << 20


class UnsafeArchive(OSError):
    """An archive member that must not be unpacked; the message says which and why."""


def _plain_name(name: str) -> bool:
    parts = name.split("/")
    return bool(name) and not name.startswith("/") and ".." not in parts \
        and not os.path.isabs(name) and "\0" not in name


def check_members(members, max_total=MAX_TOTAL_BYTES, max_file=MAX_FILE_BYTES,
                  max_members=MAX_MEMBERS) -> None:
    """Raise UnsafeArchive at the first member that may not be unpacked, or once the sizes
    (hard links count as the copies they become) pass the caps."""
    sizes = {}
    total = 0
    for count, m in enumerate(members, 1):
        if count > max_members:
            raise UnsafeArchive("the archive holds over %d entries (the limit)" % max_members)
        if not _plain_name(m.name):
            raise UnsafeArchive("refusing %r: absolute or with '..'" % m.name)
        if not (m.isreg() or m.isdir() or m.issym() or m.islnk()):
            raise UnsafeArchive("refusing %r: a device file or fifo" % m.name)
        size = m.size if m.isreg() else 0
        if m.issym():
            where = posixpath.normpath(posixpath.join(posixpath.dirname(m.name), m.linkname))
            if m.linkname.startswith("/") or where == ".." or where.startswith("../"):
                raise UnsafeArchive("refusing %r: a link to %r, outside" % (m.name, m.linkname))
        if m.islnk():
            if not _plain_name(m.linkname) or m.linkname not in sizes:
                raise UnsafeArchive("refusing %r: a hard link to %r, which is not a file before "
                                    "it in the archive" % (m.name, m.linkname))
            size = sizes[m.linkname]
        if size > max_file:
            raise UnsafeArchive("refusing %r: %d MB, over the %d MB limit for one file"
                                % (m.name, size >> 20, max_file >> 20))
        total += size
        if total > max_total:
            raise UnsafeArchive("the archive unpacks to over %d MB (the limit)" % (max_total >> 20))
        if m.isreg() or m.islnk():
            sizes[m.name] = size


def extract(tar: tarfile.TarFile, directory: str, data_filter: bool = HAS_DATA_FILTER,
            **caps) -> None:
    """Check every member of `tar`, then unpack them into `directory` (which must exist)."""
    members = tar.getmembers()
    check_members(members, **caps)
    if data_filter:
        try:
            tar.extractall(directory, members=members, filter="data")
        except tarfile.FilterError as e:
            raise UnsafeArchive(str(e)) from e
        return
    _extract_by_hand(tar, members, directory)


def _inside(root: str, path: str) -> bool:
    return os.path.commonpath([root, path]) == root


def _folder(root: str, rel: str) -> str:
    """The real folder `rel` under root, made as needed; an existing link must stay inside."""
    current = root
    for part in [p for p in rel.split("/") if p and p != "."]:
        path = os.path.join(current, part)
        if os.path.islink(path):
            path = os.path.realpath(path)
            if not _inside(root, path):
                raise UnsafeArchive("refusing to write through the link %r, which leads "
                                    "outside" % rel)
        if not os.path.isdir(path):
            os.mkdir(path, 0o755)
        current = path
    return current


def _clear(path: str) -> None:
    if os.path.islink(path) or os.path.isfile(path):
        os.unlink(path)  # replaced, never written through


def _extract_by_hand(tar, members, directory) -> None:
    root = os.path.realpath(directory)
    for m in members:
        if m.isdir():
            os.chmod(_folder(root, m.name), 0o755)
            continue
        out = os.path.join(_folder(root, posixpath.dirname(m.name)), posixpath.basename(m.name))
        if os.path.isdir(out) and not os.path.islink(out):
            raise UnsafeArchive("refusing %r: a folder is there" % m.name)
        if m.issym():
            target = os.path.realpath(os.path.join(os.path.dirname(out), m.linkname))
            if not _inside(root, target):
                raise UnsafeArchive("refusing %r: a link to %r, outside" % (m.name, m.linkname))
            _clear(out)
            os.symlink(m.linkname, out)
            continue
        _clear(out)
        # a hard link becomes a copy of the file it names: tarfile reads that file's data
        src = tar.extractfile(m)
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0),
                     0o600)
        with os.fdopen(fd, "wb") as f:
            while True:
                chunk = src.read(CHUNK)
                if not chunk:
                    break
                f.write(chunk)
            os.fchmod(f.fileno(), 0o755 if m.mode & 0o100 else 0o644)
        os.utime(out, (m.mtime, m.mtime))
