"""How a checkpoint state becomes files, and back. Used by the checkpoint helper only.

`encode` / `decode` turn a state (a dict of nested dicts, lists and tuples holding numpy arrays,
numpy and python scalars, strings, bytes, None, and PyTorch state dicts) into a JSON tree plus a
list of `Blob`s, and back. Arrays become .npy files (read back with pickling refused); a top-level
entry that holds any torch tensor becomes one torch.save file. numpy and torch are imported only
to read a checkpoint that holds their objects; to save, they are found in sys.modules (a state
cannot hold their objects unless the script imported them).
"""
from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from ..errors import UserError
from .checkpoint_storage import CHUNK, CrcWriter, IncompleteCheckpoint

MARK = "__nbctl__"  # key of the JSON objects that stand for what JSON cannot say

Stage = Callable[[str, object], object]  # (tree path, array or tensor) -> the copy to write


@dataclass
class Blob:
    """One file of a checkpoint: `name` under the checkpoint's prefix, and what to write there."""

    name: str
    kind: str  # "npy" or "torch"
    value: object

    def write_to(self, out: CrcWriter) -> None:
        if self.kind == "npy":
            for chunk in _npy_chunks(self.value):
                out.write(chunk, stable=True)  # slices of an array nobody changes meanwhile
        else:
            _torch_module().save(self.value, out)  # streamed: no copy of the whole file


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


def dumps(obj) -> bytes:
    """`obj` as compact JSON bytes, keys in their given order (a state dict's order is part
    of it)."""
    return json.dumps(obj, separators=(",", ":")).encode()
