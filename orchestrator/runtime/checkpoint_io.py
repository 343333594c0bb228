"""How a checkpoint becomes files, and where the files go. Used by nbctl_cloud.runtime.checkpoint only.

- `encode` / `decode` turn a state (a dict of nested dicts, lists and tuples holding numpy arrays,
  numpy and python scalars, strings, bytes, None, and PyTorch state dicts) into a JSON tree plus
  a list of `Blob`s, and back. Arrays become .npy files (read back with pickling refused); a
  top-level entry that holds any torch tensor becomes one torch.save file. numpy and torch are
  imported only to read a checkpoint that holds their objects; to save, they are found in
  sys.modules (a state cannot hold their objects unless the script imported them).
- `Storage` writes, reads, lists and removes files under one fsspec URL. A local path is written
  with plain file calls, fsync'd, and published by rename; an object store (s3://, gs://) gets
  whole-object uploads, which readers never see half-written.
"""
from __future__ import annotations

import io
import json
import os
import queue
import shutil
import sys
import threading
import uuid
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from ..errors import UserError

MARK = "__nbctl__"  # key of the JSON objects that stand for what JSON cannot say
CHUNK = 8 << 20  # bytes per write/read call: large enough for bandwidth, small enough to stream
SIDE_CHECKSUM = 1 << 20  # chunks this large get their checksum computed beside the write
SYNC_THREADS = 8  # files flushed at once at the end of a local save

Stage = Callable[[str, object], object]  # (tree path, array or tensor) -> the copy to write


class IncompleteCheckpoint(Exception):
    """A checkpoint whose files are missing, short or corrupt: it must not be trusted."""


@dataclass
class Blob:
    """One file of a checkpoint: `name` under the checkpoint's prefix, and what to write there."""

    name: str
    kind: str  # "npy" or "torch"
    value: object

    def write_to(self, out: "CrcWriter") -> None:
        if self.kind == "npy":
            for chunk in _npy_chunks(self.value):
                out.write(chunk, stable=True)  # slices of an array nobody changes meanwhile
        else:
            _torch_module().save(self.value, out)  # streamed: no copy of the whole file


@dataclass(frozen=True)
class FileRecord:
    path: str  # relative to the checkpoint URL
    size: int
    crc32: int


# -- encoding ----------------------------------------------------------------------------------

def _module(name: str):
    return sys.modules.get(name)


def _is_tensor(value) -> bool:
    torch = _module("torch")
    return torch is not None and isinstance(value, torch.Tensor)


def _holds_tensor(value) -> bool:
    if _is_tensor(value):
        return True
    if isinstance(value, Mapping):
        return any(_holds_tensor(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_holds_tensor(v) for v in value)
    return False


def _copy_tensors(value, path: str, stage: Stage):
    """A copy of a torch entry whose tensors are `stage`d: on the host, apart from training's."""
    if _is_tensor(value):
        return stage(path, value)
    if isinstance(value, Mapping):
        return type(value)((k, _copy_tensors(v, f"{path}/{k}", stage)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return type(value)(_copy_tensors(v, f"{path}/{i}", stage) for i, v in enumerate(value))
    return value


def encode(state: Mapping, stage: Stage | None = None) -> tuple[dict, list[Blob]]:
    """Split `state` into a JSON-able tree and the blobs it refers to.

    With `stage`, every array and tensor is replaced by `stage(path, value)`, a host copy, so
    training may change the originals while the blobs are written.
    Raises UserError naming the first value that cannot be checkpointed.
    """
    if not isinstance(state, Mapping) or not all(isinstance(k, str) for k in state):
        raise UserError("a checkpoint state must be a dict with string keys, "
                        f"not {type(state).__name__}")
    blobs: list[Blob] = []
    entries = []
    for key, value in state.items():
        if _holds_tensor(value):
            name = f"t{len(blobs):05d}.pt"
            blobs.append(Blob(name, "torch", _copy_tensors(value, key, stage) if stage else value))
            entries.append((key, {MARK: "torch", "file": name}))
        else:
            entries.append((key, _encode(value, key, blobs, stage)))
    if MARK in state:
        return {MARK: "dict", "items": [[k, v] for k, v in entries]}, blobs
    return dict(entries), blobs


def _encode(value, path: str, blobs: list[Blob], stage: Stage | None):
    np = _module("numpy")
    if np is not None and isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            raise UserError(f"cannot checkpoint {path}: arrays of python objects need pickle, "
                            "which checkpoints refuse; use a numeric dtype")
        name = f"a{len(blobs):05d}.npy"
        blobs.append(Blob(name, "npy", stage(path, value) if stage else value))
        return {MARK: "ndarray", "file": name}
    if np is not None and isinstance(value, np.generic) and not value.dtype.hasobject:
        return {MARK: "npscalar", "dtype": value.dtype.str, "hex": value.tobytes().hex()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value  # after numpy: numpy.float64 is a float, but must come back as itself
    if isinstance(value, bytes):
        return {MARK: "bytes", "hex": value.hex()}
    if isinstance(value, tuple):
        return {MARK: "tuple", "items": [_encode(v, f"{path}/{i}", blobs, stage)
                                         for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(v, f"{path}/{i}", blobs, stage) for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        if all(isinstance(k, str) for k in value) and MARK not in value:
            return {k: _encode(v, f"{path}/{k}", blobs, stage) for k, v in value.items()}
        return {MARK: "dict", "items": [[_encode(k, f"{path}/<key>", blobs, stage),
                                         _encode(v, f"{path}/{k}", blobs, stage)]
                                        for k, v in value.items()]}
    raise UserError(f"cannot checkpoint {path}: {type(value).__module__}.{type(value).__name__} "
                    "(supported: dict, list, tuple, str, bytes, int, float, bool, None, numpy "
                    "arrays and scalars, PyTorch tensors and state dicts)")


def decode(tree, read_blob: Callable[[str], bytearray], map_location="cpu"):
    """The state that `encode` split into `tree`; `read_blob(name)` returns a verified file."""
    if isinstance(tree, list):
        return [decode(v, read_blob, map_location) for v in tree]
    if not isinstance(tree, dict):
        return tree
    kind = tree.get(MARK)
    if kind is None:
        return {k: decode(v, read_blob, map_location) for k, v in tree.items()}
    if kind == "ndarray":
        return npy_from_buffer(read_blob(tree["file"]))
    if kind == "torch":
        return _torch_load(read_blob(tree["file"]), map_location)
    if kind == "npscalar":
        np = _numpy_for_load()
        return np.frombuffer(bytes.fromhex(tree["hex"]), dtype=np.dtype(tree["dtype"]))[0]
    if kind == "bytes":
        return bytes.fromhex(tree["hex"])
    if kind == "tuple":
        return tuple(decode(v, read_blob, map_location) for v in tree["items"])
    if kind == "dict":
        return {decode(k, read_blob, map_location): decode(v, read_blob, map_location)
                for k, v in tree["items"]}
    raise IncompleteCheckpoint(f"unknown entry kind {kind!r} (written by a newer nbctl?)")


def _numpy_for_load():
    try:
        import numpy
    except ImportError as e:
        raise UserError("this checkpoint holds numpy arrays: pip install numpy") from e
    return numpy


def _npy_chunks(arr) -> Iterator[object]:
    """The .npy bytes of `arr`: a header, then the array's own memory in slices (no copy)."""
    np = _module("numpy")
    if not arr.flags.c_contiguous:
        arr = arr.copy(order="C")  # .npy data is one run of memory
    header = io.BytesIO()
    fields = np.lib.format.header_data_from_array_1_0(arr)
    try:
        np.lib.format.write_array_header_1_0(header, fields)
    except ValueError:  # a header over 64 KiB needs format 2.0
        np.lib.format.write_array_header_2_0(header, fields)
    yield header.getvalue()
    if arr.size == 0 or arr.itemsize == 0:
        return
    raw = memoryview(arr.reshape(-1).view(np.uint8))
    for start in range(0, len(raw), CHUNK):
        yield raw[start:start + CHUNK]


def npy_from_buffer(buf: bytearray):
    """The array stored in .npy bytes, sharing (not copying) `buf`'s memory. Never unpickles."""
    np = _numpy_for_load()
    fmt = np.lib.format
    head = io.BytesIO(bytes(buf[:1 << 17]))
    try:
        version = fmt.read_magic(head)
        reader = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, fortran, dtype = reader(head)
    except ValueError as e:
        raise IncompleteCheckpoint(f"not a .npy file: {e}") from e
    if dtype.hasobject:
        raise IncompleteCheckpoint("a .npy file holds python objects; refusing to unpickle")
    count = 1
    for n in shape:
        count *= n
    if dtype.itemsize == 0 or count == 0:
        return np.empty(shape, dtype=dtype)
    offset = head.tell()
    if len(buf) - offset != count * dtype.itemsize:
        raise IncompleteCheckpoint(".npy data is shorter or longer than its header says")
    flat = np.frombuffer(buf, dtype=dtype, count=count, offset=offset)
    return flat.reshape(shape, order="F" if fortran else "C")


def _torch_module():
    try:
        import torch
    except ImportError as e:
        raise UserError("this checkpoint holds PyTorch tensors: pip install torch") from e
    return torch


def _torch_load(buf: bytearray, map_location):
    # weights_only: tensors, containers and scalars only, so a checkpoint cannot run code
    return _torch_module().load(io.BytesIO(buf), map_location=map_location, weights_only=True)


# -- storage -------------------------------------------------------------------------------------

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

    def write(self, rel: str, fill: Callable[["CrcWriter"], object]) -> FileRecord:
        """Create the file `rel` with what `fill(out)` writes to `out`; return its size and CRC-32."""
        path = self.path(rel)
        if self.local:
            os.makedirs(os.path.dirname(path), exist_ok=True)
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
        os.makedirs(directory, exist_ok=True)
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


def dumps(obj) -> bytes:
    # keys keep their order: a state dict's order is part of it
    return json.dumps(obj, separators=(",", ":")).encode()
