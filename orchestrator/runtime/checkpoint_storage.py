"""Where checkpoint files go: files under one fsspec URL. Used by the checkpoint helper only.

A local path is written with plain file calls, fsync'd, and published by rename; an object store
(s3://, gs://) gets whole-object uploads, which readers never see half-written. Every file is
written through a CrcWriter and read back checked against its recorded size and CRC-32.
"""
from __future__ import annotations

import os
import queue
import shutil
import threading
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import UserError
from .checkpoint_dirs import make_private, shared_reason

CHUNK = 8 << 20  # bytes per write/read call: large enough for bandwidth, small enough to stream
SIDE_CHECKSUM = 1 << 20  # chunks this large get their checksum computed beside the write
SYNC_THREADS = 8  # files flushed at once at the end of a local save


class IncompleteCheckpoint(Exception):
    """A checkpoint whose files are missing, short or corrupt: it must not be trusted."""


@dataclass(frozen=True)
class FileRecord:
    """One written file: where it is, and the size and CRC-32 a reader must find there."""

    path: str  # relative to the checkpoint URL
    size: int
    crc32: int


def _open_fs(url: str, storage_options: dict | None):
    import fsspec

    try:
        return fsspec.core.url_to_fs(url, **(storage_options or {}))
    except ImportError as e:
        raise UserError(f"cannot use checkpoint URL {url}: {e}") from e


class Storage:
    """Files under one checkpoint URL; paths given to the methods are relative to it."""

    def __init__(self, url: str, storage_options: dict | None = None, fsync: bool = True):
        self.fs, root = _open_fs(url, storage_options)
        protocols = self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,)
        self.local = "file" in protocols or "local" in protocols
        self.root = os.path.abspath(root) if self.local else root.rstrip("/")
        self.fsync = fsync
        self._unsynced: list[str] = []  # local files written since the last sync()

    def path(self, rel: str) -> str:
        return f"{self.root}/{rel}" if rel else self.root

    def shared_reason(self, rel: str = "") -> str | None:
        """Why another user could plant files in the local folder `rel` (checkpoint_dirs'
        rule), or None; always None on an object store."""
        return shared_reason(self.path(rel)) if self.local else None

    def refuse_if_shared(self, rel: str = "") -> None:
        """UserError when checkpoints under `rel` could have been planted by another user."""
        reason = self.shared_reason(rel)
        if reason:
            raise UserError(f"refusing to load checkpoints from {self.path(rel)}: {reason}, so "
                            "another user could have planted one; move them to a private folder "
                            "(chmod 700) or use s3:// or gs://")

    def write(self, rel: str, fill: Callable[["CrcWriter"], object]) -> FileRecord:
        """Create the file `rel` with what `fill(out)` writes to `out`; return its size and
        CRC-32."""
        path = self.path(rel)
        if self.local:
            make_private(os.path.dirname(path))
            opened = open(path, "wb")
        else:
            opened = self.fs.open(path, "wb")
        with opened as f:
            out = CrcWriter(f)
            try:
                fill(out)
            finally:
                crc = out.finish()
        if self.local and self.fsync:
            self._unsynced.append(path)
        return FileRecord(rel, out.size, crc)

    def sync(self, rel: str) -> None:
        """Make the files written so far, and their names under `rel`, durable (a no-op on
        object stores). One pass after all the writes lets the disk flush them together."""
        if not (self.local and self.fsync):
            return
        # flushed side by side, the disk commits them together instead of one after another
        groups = [self._unsynced[i::SYNC_THREADS] for i in range(SYNC_THREADS)]
        threads = [threading.Thread(target=_fdatasync, args=(group,), name="nbctl-fsync")
                   for group in groups if group]
        errors = []
        for t in threads:
            t.start()
        for t in threads:
            t.join()
            errors.extend(getattr(t, "error", []))
        self._unsynced.clear()
        if errors:
            raise errors[0]
        _fsync_dir(self.path(rel))
        _fsync_dir(os.path.dirname(self.path(rel)))

    def publish(self, rel: str, data: bytes) -> None:
        """Write `data` so that a reader sees either the whole file or no file at all."""
        path = self.path(rel)
        if not self.local:
            self.fs.pipe_file(path, data)  # one PUT: an object appears whole or not at all
            return
        directory = os.path.dirname(path)
        make_private(directory)
        tmp = os.path.join(directory, f".{os.path.basename(path)}.{uuid.uuid4().hex}.tmp")
        with open(tmp, "wb") as f:
            f.write(data)
            if self.fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
        if self.fsync:
            _fsync_dir(directory)

    def read(self, record: FileRecord) -> bytearray:
        """The file's bytes, checked against the recorded size and CRC-32."""
        buf = bytearray(record.size)
        view, got, crc = memoryview(buf), 0, 0
        try:
            opened = open(self.path(record.path), "rb") if self.local else \
                self.fs.open(self.path(record.path), "rb")
            with opened as f:
                while got < record.size:
                    n = f.readinto(view[got:got + CHUNK])
                    if not n:
                        break
                    crc = zlib.crc32(view[got:got + n], crc)
                    got += n
                extra = f.read(1)
        except FileNotFoundError as e:
            raise IncompleteCheckpoint(f"{record.path} is missing") from e
        if got != record.size or extra:
            raise IncompleteCheckpoint(f"{record.path} is not {record.size} bytes long")
        if crc != record.crc32:
            raise IncompleteCheckpoint(f"{record.path} does not match its checksum")
        return buf

    def read_small(self, rel: str) -> bytes:
        """A whole small file (a manifest); IncompleteCheckpoint if it is gone."""
        try:
            if self.local:
                with open(self.path(rel), "rb") as f:
                    return f.read()
            return self.fs.cat_file(self.path(rel))
        except FileNotFoundError as e:
            raise IncompleteCheckpoint(f"{rel} is missing") from e

    def sizes(self, rel: str) -> dict[str, int]:
        """Every file under `rel` with its size, keyed by path relative to the URL; one listing."""
        base = self.path(rel)
        found: dict[str, int] = {}
        if self.local:
            for dirpath, _, names in os.walk(base):
                for name in names:
                    full = os.path.join(dirpath, name)
                    found[os.path.relpath(full, self.root).replace(os.sep, "/")] = \
                        os.stat(full).st_size
            return found
        self.fs.invalidate_cache()  # listings are cached; a checkpoint must be seen as it is now
        try:
            infos = self.fs.find(base, detail=True)
        except FileNotFoundError:
            return found
        for name, info in infos.items():
            found[name[len(self.root) + 1:]] = int(info["size"])
        return found

    def listdir(self, rel: str) -> list[str]:
        """Names directly under `rel`; empty if it does not exist."""
        if self.local:
            try:
                return os.listdir(self.path(rel))
            except FileNotFoundError:
                return []
        self.fs.invalidate_cache()
        try:
            return [n.rstrip("/").rsplit("/", 1)[-1]
                    for n in self.fs.ls(self.path(rel), detail=False)]
        except FileNotFoundError:
            return []

    def remove(self, rel: str) -> None:
        """Remove a file or a whole prefix; one that is already gone is fine."""
        path = self.path(rel)
        try:
            if not self.local:
                self.fs.rm(path, recursive=True)
            elif os.path.isdir(path):
                shutil.rmtree(path)
            else:
                os.remove(path)
        except FileNotFoundError:
            pass


def _fdatasync(paths: list[str]) -> None:
    try:
        for path in paths:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fdatasync(fd)
            finally:
                os.close(fd)
    except OSError as e:  # handed to the thread that asked for the flush
        threading.current_thread().error = [e]


class CrcWriter:
    """A write-only file that forwards to `file` and keeps the size and CRC-32 of what passed.

    `write(chunk, stable=True)` promises the chunk stays unchanged until `finish()`: from the first
    large such chunk on, the checksum runs in a helper thread beside the writes (both release the
    GIL), so it costs little bandwidth. Other chunks are summed at once.
    """

    def __init__(self, file):
        self._file = file
        self._crc = 0
        self._pending: queue.SimpleQueue = queue.SimpleQueue()
        self._helper: threading.Thread | None = None
        self.size = 0

    def write(self, chunk, stable: bool = False) -> int:
        n = memoryview(chunk).nbytes
        if self._helper is None and stable and n >= SIDE_CHECKSUM:
            # a daemon of its own, not an executor: executors refuse work once the interpreter
            # is exiting, and a background save still being written then must finish
            self._helper = threading.Thread(target=self._checksum, name="nbctl-checksum",
                                            daemon=True)
            self._helper.start()
        if self._helper is None:
            self._crc = zlib.crc32(chunk, self._crc)
        else:
            self._pending.put(chunk if stable else bytes(chunk))
        self._file.write(chunk)
        self.size += n
        return n

    def flush(self) -> None:
        """Nothing to do: the file is flushed when it is closed."""

    def _checksum(self) -> None:
        while (chunk := self._pending.get()) is not None:
            self._crc = zlib.crc32(chunk, self._crc)

    def finish(self) -> int:
        """The CRC-32 of everything written."""
        if self._helper is not None:
            self._pending.put(None)
            self._helper.join()
            self._helper = None
        return self._crc


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
