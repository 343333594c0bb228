"""The in-job checkpoint helper: a training script imports this to survive preemption.

`nbctl run` starts the job with NBCTL_CHECKPOINT_URL (a local path, file://, s3://bucket/prefix or
gs://bucket/prefix), NBCTL_RUN_ID and NBCTL_RESTART (0, then N after N restarts). On the cloud's
preemption notice the job gets SIGTERM. Importing this module needs only the standard library;
fsspec is imported when a Checkpointer opens its URL, numpy and torch only when a state holds them.

Layout under the URL (one writer at a time)::

    step-000000001200-<uuid>/a00000.npy ...  every file of one checkpoint, under a fresh prefix
    step-000000001200-<uuid>/tree.json       the rest of the state, and where each array went
    manifests/000000001200.json              written LAST, atomically; lists files, sizes, CRC-32

    _nbctl/<run id>/steps-<N>.json           in a job: (time, step) of each save of attempt N

A checkpoint exists once its manifest does. `load_latest` trusts the newest manifest whose files
are all there with the recorded sizes and checksums, and falls back to older ones otherwise, so a
save killed at any moment leaves the previous checkpoint in charge. Other names under the URL
(nbctl's own `_nbctl/`, where a save only writes its attempt's steps file) are never touched.

The training loop (`step` counts completed steps, so a resumed run continues at `step`)::

    ck = Checkpointer(keep=3, async_save=True)      # SIGTERM now sets ck.preemption_requested
    restored = ck.load_latest()
    state, start = restored if restored else (initial_state(), 0)
    for step in range(start, total):
        train_one_step(state)                       # uses and advances the saved RNG state
        if ck.preemption_requested:                 # the notice: save this very step, then go
            ck.save(current_state(), step + 1)
            ck.exit_preempted()                     # waits for the save, exits EXIT_PREEMPTED
        if (step + 1) % interval == 0:
            ck.save(current_state(), step + 1)
    ck.wait()                                       # the last asynchronous save is durable

For a bit-identical resume the state must hold every source of randomness: numpy's
`rng.bit_generator.state` (a dict), `random.getstate()` (tuples, kept as tuples), and for PyTorch
`torch.get_rng_state()` beside `model.state_dict()` and `optimizer.state_dict()`.

Inside, one module per part: checkpoint_codec (a state as files and back), checkpoint_storage
(files under one URL, checked by size and CRC-32), checkpoint_layout (step prefixes, manifests,
pruning) and checkpoint_notice (SIGTERM and EXIT_PREEMPTED). This module is the public face.
"""
from __future__ import annotations

import importlib.util
import logging
import os
import sys
import threading
from collections.abc import Mapping
from typing import NamedTuple, NoReturn

from ..errors import UserError
from .checkpoint_notice import DEFAULT_EXIT_GRACE, EXIT_PREEMPTED, PreemptionNotice

__all__ = ["Checkpointer", "Checkpoint", "check_url", "EXIT_PREEMPTED", "DEFAULT_EXIT_GRACE",
           "ENV_URL", "ENV_RUN_ID", "ENV_RESTART", "default", "save", "load_latest",
           "preemption_requested", "exit_preempted", "restart_count"]

ENV_URL = "NBCTL_CHECKPOINT_URL"
ENV_RUN_ID = "NBCTL_RUN_ID"
ENV_RESTART = "NBCTL_RESTART"
PROGRESS_POINTS = 500  # the newest saves an attempt's steps file keeps
_REMOTE_NEEDS_BUCKET = ("s3", "s3a", "gs", "gcs", "az", "abfs")

log = logging.getLogger(__name__)


class Checkpoint(NamedTuple):
    """A restored checkpoint: `state, step = ck.load_latest()` unpacks it."""

    state: dict
    step: int


def check_url(url: str) -> None:
    """Raise UserError unless `url` names storage this machine can write checkpoints to.

    Checks the form and that the scheme's filesystem package is installed, without importing it
    and without touching the network, so the CLI can call it before it creates anything.
    """
    if not isinstance(url, str) or not url.strip():
        raise UserError("a checkpoint URL is needed: a path, s3://bucket/prefix or "
                        "gs://bucket/prefix")
    if importlib.util.find_spec("fsspec") is None:
        raise UserError("checkpoints need fsspec: pip install fsspec")
    from fsspec.core import split_protocol
    from fsspec.registry import known_implementations, registry

    for part in url.split("::"):  # fsspec chains, e.g. simplecache::s3://b/p
        protocol, rest = split_protocol(part)
        if protocol is None:
            continue
        known = known_implementations.get(protocol)
        if known is None and protocol not in registry:
            raise UserError(f"checkpoint URL {url!r}: unknown storage scheme {protocol!r}; use a "
                            "local path, s3://bucket/prefix or gs://bucket/prefix")
        package = known["class"].split(".")[0] if known else None
        if package and importlib.util.find_spec(package) is None:
            raise UserError(f"checkpoint URL {url!r} needs the {package} package on this machine "
                            f"({known.get('err', 'not installed')}): pip install {package}")
        if protocol in _REMOTE_NEEDS_BUCKET and not rest.strip("/"):
            raise UserError(f"checkpoint URL {url!r} names no bucket: use "
                            f"{protocol}://bucket/prefix")


class Checkpointer(PreemptionNotice):
    """Saves and restores a training state under one URL; see the module docstring for the loop.

    url: defaults to $NBCTL_CHECKPOINT_URL. keep: how many checkpoints to keep (None keeps all).
    async_save: `save` copies arrays and tensors to host memory (the only stall; the buffers,
    pinned for CUDA tensors, are reused from save to save) and writes them in a background
    thread; at most one save is in flight, and a save that failed in the background raises at
    the next call. handle_sigterm: install the SIGTERM handler now (possible from the main
    thread only). exit_grace: seconds after a notice after which the helper exits
    with EXIT_PREEMPTED itself if the loop has not (after finishing a save in progress); None
    leaves exiting to the loop. storage_options go to fsspec; credentials come from the cloud's
    own chain, never from here.
    """

    def __init__(self, url: str | None = None, keep: int | None = 3, async_save: bool = False,
                 *, handle_sigterm: bool = True, exit_grace: float | None = DEFAULT_EXIT_GRACE,
                 storage_options: dict | None = None, fsync: bool = True):
        url = url if url is not None else os.environ.get(ENV_URL, "")
        if not url:
            raise UserError(f"no checkpoint URL: pass url= or set {ENV_URL} "
                            "(nbctl run sets it for the job)")
        if keep is not None and (isinstance(keep, bool) or not isinstance(keep, int) or keep < 1):
            raise UserError(f"keep must be a whole number of checkpoints >= 1 or None, not {keep!r}")
        check_url(url)
        from .checkpoint_layout import Layout
        from .checkpoint_storage import Storage

        self.url = url
        self.keep = keep
        self.async_save = async_save
        self.last_step: int | None = None  # the step of the last save this process published
        self._progress: list[tuple[float, int]] = []  # (time, step) of this attempt's saves
        self._layout = Layout(Storage(url, storage_options, fsync=fsync))
        shared = self._layout.storage.shared_reason()
        if shared:
            log.warning("checkpoint folder %s: %s; another user could read or plant checkpoints "
                        "there (loading them will be refused): use a private folder (chmod 700)",
                        url, shared)
        self._lock = threading.Lock()  # held by whoever writes a checkpoint
        self._writer: threading.Thread | None = None
        self._error: BaseException | None = None
        self._staging: dict[str, object] = {}  # host copies reused from one async save to the next
        self._init_notice(exit_grace, handle_sigterm)

    # -- saving --------------------------------------------------------------------------------

    def save(self, state: Mapping, step: int) -> None:
        """Save `state` as the checkpoint of `step` (completed steps), then keep the last `keep`.

        Blocking: returns once the checkpoint is durable; older ones are removed in the
        background. Asynchronous: returns once the state is copied. Either way it waits first for
        the previous save, and raises its error if it failed.
        """
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise UserError(f"a checkpoint step must be a whole number >= 0, not {step!r}")
        self.wait()
        from .checkpoint_codec import encode

        if not self.async_save:
            tree, blobs = encode(state)
            with self._lock:
                self._write(tree, blobs, step)
            self._in_background(self._prune, step)  # removing is not part of the stall
            return
        staging, self._staging = self._staging, {}
        copies_on_device = []
        tree, blobs = encode(state, stage=lambda path, value: self._stage(staging, path, value,
                                                                            copies_on_device))
        if copies_on_device:  # device-to-host copies run asynchronously: they end here
            sys.modules["torch"].cuda.synchronize()
        self._in_background(self._write_and_prune, tree, blobs, step)

    def _in_background(self, work, *args) -> None:
        """Run `work(*args)` under the lock in a thread; the next call waits for it."""
        def run() -> None:
            try:
                with self._lock:
                    work(*args)
            except BaseException as e:  # noqa: BLE001 - handed to the training thread by wait()
                log.error("checkpoint work in the background failed: %s", e)
                self._error = e

        with self._lock:
            self._writer = threading.Thread(target=run, name="nbctl-checkpoint")
            self._writer.start()  # not a daemon: the interpreter waits for it at exit

    def wait(self) -> None:
        """Return once no save is in flight; raise the error of a background save that failed."""
        writer = self._writer
        if writer is not None:
            writer.join()
            self._writer = None
        error, self._error = self._error, None
        if error is not None:
            raise error

    def _finish_writing(self) -> None:
        """Return once the save being written is done, raising nothing (the grace exit's wait)."""
        with self._lock:  # a save being written finishes first (a later one is cut short,
            writer = self._writer  # which is safe: its manifest was never published)
        if writer is not None:
            writer.join()

    def _stage(self, previous: dict, path: str, value, copies_on_device: list):
        """A host copy of an array or tensor, written into last save's buffer when it fits.

        Reusing buffers avoids faulting in fresh pages, which costs more than the copy. A CUDA
        tensor goes to pinned memory without waiting; the caller synchronizes once for all.
        """
        buf = previous.pop(path, None)
        torch = sys.modules.get("torch")
        if torch is not None and isinstance(value, torch.Tensor):
            tensor = value.detach()
            if tensor.layout != torch.strided:  # sparse and friends: a plain copy
                return tensor.to("cpu", copy=True)
            if not isinstance(buf, torch.Tensor) or buf.shape != tensor.shape \
                    or buf.dtype != tensor.dtype:
                buf = torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=tensor.is_cuda)
            buf.copy_(tensor, non_blocking=tensor.is_cuda)
            if tensor.is_cuda:
                copies_on_device.append(path)
        else:
            np = sys.modules["numpy"]
            if not isinstance(buf, np.ndarray) or buf.shape != value.shape \
                    or buf.dtype != value.dtype:
                buf = np.empty(value.shape, dtype=value.dtype)
            np.copyto(buf, value)
        self._staging[path] = buf
        return buf

    def _write_and_prune(self, tree, blobs, step: int) -> None:
        self._write(tree, blobs, step)
        self._prune(step)

    def _write(self, tree, blobs, step: int) -> None:
        about = {"run_id": os.environ.get(ENV_RUN_ID), "restart": _restart_from_env()}
        self._layout.write(tree, blobs, step, about)
        self.last_step = step
        if about["run_id"]:  # in an nbctl job: the step reached, for `nbctl ui`'s chart
            import json
            import time
            self._progress = (self._progress + [(round(time.time(), 3), step)])[-PROGRESS_POINTS:]
            self._layout.storage.publish(
                f"_nbctl/{about['run_id']}/steps-{about['restart']}.json",
                json.dumps({"points": self._progress}).encode())

    def _prune(self, newest: int) -> None:
        self._layout.prune(self.keep, newest)

    # -- loading -------------------------------------------------------------------------------

    def steps(self) -> list[int]:
        """Steps that have a manifest once the save in flight is done, newest first (complete or
        not: load_latest checks)."""
        self.wait()
        return self._layout.steps()

    def load_latest(self, map_location="cpu") -> Checkpoint | None:
        """The newest complete checkpoint, or None if there is none.

        A manifest whose files are missing, short or corrupt is skipped with a warning and the
        next older one is tried. A local folder that another user could have planted
        checkpoints in (checkpoint_dirs' rule) is refused with UserError. Errors reaching the
        storage itself (permissions, network) are raised: resuming silently from an older step
        would be worse.
        """
        from .checkpoint_storage import IncompleteCheckpoint

        self.wait()
        self._layout.refuse_if_shared()
        for step in self._layout.steps():
            try:
                return Checkpoint(self._layout.load(step, map_location), step)
            except IncompleteCheckpoint as e:
                log.warning("skipping the checkpoint of step %d: %s", step, e)
        return None

    def close(self) -> None:
        """Wait for the save in flight and give SIGTERM back to the handler found before."""
        self.wait()
        self.restore_signal_handlers()

    def __enter__(self) -> "Checkpointer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _restart_from_env() -> int:
    try:
        return int(os.environ.get(ENV_RESTART, "0"))
    except ValueError:
        return 0


# -- module-level conveniences: one Checkpointer from the environment ----------------------------

_default: Checkpointer | None = None


def default() -> Checkpointer:
    """The process's Checkpointer for $NBCTL_CHECKPOINT_URL (blocking saves, keep=3)."""
    global _default
    if _default is None:
        _default = Checkpointer()
    return _default


def save(state: Mapping, step: int) -> None:
    """`default().save(state, step)`."""
    default().save(state, step)


def load_latest(map_location="cpu") -> Checkpoint | None:
    """`default().load_latest()`: the newest complete checkpoint, or None."""
    return default().load_latest(map_location)


def preemption_requested() -> bool:
    return default().preemption_requested


def exit_preempted() -> NoReturn:
    default().exit_preempted()


def restart_count() -> int:
    """How many times nbctl restarted this job ($NBCTL_RESTART; 0 on the first start)."""
    return _restart_from_env()
