"""The in-job checkpoint helper: a training script imports this to survive preemption.

`nbctl run` starts the job with NBCTL_CHECKPOINT_URL (a local path, file://, s3://bucket/prefix or
gs://bucket/prefix), NBCTL_RUN_ID and NBCTL_RESTART (0, then N after N restarts). On the cloud's
preemption notice the job gets SIGTERM. Importing this module needs only the standard library;
fsspec is imported when a Checkpointer opens its URL, numpy and torch only when a state holds them.

Layout under the URL (one writer at a time)::

    step-000000001200-<uuid>/a00000.npy ...  every file of one checkpoint, under a fresh prefix
    step-000000001200-<uuid>/tree.json       the rest of the state, and where each array went
    manifests/000000001200.json              written LAST, atomically; lists files, sizes, CRC-32

A checkpoint exists once its manifest does. `load_latest` trusts the newest manifest whose files
are all there with the recorded sizes and checksums, and falls back to older ones otherwise, so a
save killed at any moment leaves the previous checkpoint in charge. Other names under the URL
(nbctl's own `_nbctl/`) are never touched.

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
"""
from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import signal
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from typing import NamedTuple, NoReturn

from ..errors import UserError

EXIT_PREEMPTED = 85  # "preempted, resume me": the job exits with this after a preemption notice
ENV_URL = "NBCTL_CHECKPOINT_URL"
ENV_RUN_ID = "NBCTL_RUN_ID"
ENV_RESTART = "NBCTL_RESTART"
FORMAT = "nbctl-checkpoint/1"
DEFAULT_EXIT_GRACE = 25.0  # GCE gives 30 s of notice: leave time to exit after the final save

MANIFESTS = "manifests"
_MANIFEST = re.compile(r"^(\d{12})\.json$")
_PREFIX = re.compile(r"^step-(\d{12})-[0-9a-f]+$")
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


class Checkpointer:
    """Saves and restores a training state under one URL; see the module docstring for the loop.

    url: defaults to $NBCTL_CHECKPOINT_URL. keep: how many checkpoints to keep (None keeps all).
    async_save: `save` copies arrays and tensors to host memory (the only stall; the buffers,
    pinned for CUDA tensors, are reused from save to save) and writes them in a background thread; at most one save is in flight, and a save that failed in the
    background raises at the next call. handle_sigterm: install the SIGTERM handler now (possible
    from the main thread only). exit_grace: seconds after a notice after which the helper exits
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
        from .checkpoint_io import Storage

        self.url = url
        self.keep = keep
        self.async_save = async_save
        self.exit_grace = exit_grace
        self.last_step: int | None = None  # the step of the last save this process published
        self._storage = Storage(url, storage_options, fsync=fsync)
        self._lock = threading.Lock()  # held by whoever writes a checkpoint
        self._writer: threading.Thread | None = None
        self._error: BaseException | None = None
        self._staging: dict[str, object] = {}  # host copies reused from one async save to the next
        self._prefixes: dict[int, str] = {}  # step -> prefix, for manifests already read
        self._notice = threading.Event()
        self._previous_handlers: dict[int, object] = {}
        self._exit_timer: threading.Timer | None = None
        if handle_sigterm and threading.current_thread() is threading.main_thread():
            self.install_signal_handlers()

    # -- preemption ----------------------------------------------------------------------------

    @property
    def preemption_requested(self) -> bool:
        """True once the preemption notice (SIGTERM) arrived."""
        return self._notice.is_set()

    def install_signal_handlers(self, signals=(signal.SIGTERM,)) -> None:
        """Turn `signals` into a preemption request instead of death. Main thread only.

        A handler that was installed before is still called after ours.
        """
        for sig in signals:
            previous = signal.signal(sig, self._on_notice)
            if previous is not self._on_notice:
                self._previous_handlers[sig] = previous

    def request_preemption(self) -> None:
        """What SIGTERM does: mark the notice, and arm the grace exit if there is one."""
        if self._notice.is_set():
            return
        self._notice.set()
        if self.exit_grace is not None:
            self._exit_timer = threading.Timer(self.exit_grace, self._exit_after_grace)
            self._exit_timer.daemon = True
            self._exit_timer.start()

    def _on_notice(self, signum, frame) -> None:
        # runs between two bytecodes of the main thread: take no lock the loop may hold
        self.request_preemption()
        previous = self._previous_handlers.get(signum)
        if callable(previous):
            previous(signum, frame)

    def _exit_after_grace(self) -> None:
        log.warning("the training loop did not exit within %.0f s of the preemption notice; "
                    "exiting with %d after the save in progress", self.exit_grace, EXIT_PREEMPTED)
        with self._lock:  # a save being written finishes first (a later one is cut short,
            writer = self._writer  # which is safe: its manifest was never published)
        if writer is not None:
            writer.join()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_PREEMPTED)

    def exit_preempted(self) -> NoReturn:
        """Wait for the save in flight, then exit with EXIT_PREEMPTED ("preempted, resume me").

        A save that failed is reported on stderr; the checkpoint before it still stands, so the
        exit code stays EXIT_PREEMPTED.
        """
        try:
            self.wait()
        except Exception as e:  # noqa: BLE001 - reported, not retried: the older checkpoint stands
            print(f"nbctl checkpoint: the last save failed ({e}); resuming from the one before",
                  file=sys.stderr)
        sys.stdout.flush()
        raise SystemExit(EXIT_PREEMPTED)

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
        from .checkpoint_io import encode

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
        from .checkpoint_io import dumps

        started = time.monotonic()
        prefix = f"step-{step:012d}-{uuid.uuid4().hex[:16]}"
        storage = self._storage
        log.debug("writing step %d under %s", step, prefix)
        files = [storage.write(f"{prefix}/{blob.name}", blob.write_to) for blob in blobs]
        tree_bytes = dumps(tree)
        files.append(storage.write(f"{prefix}/tree.json", lambda out: out.write(tree_bytes)))
        storage.sync(prefix)  # the files are durable before the manifest names them
        manifest = {
            "format": FORMAT, "step": step, "prefix": prefix, "created": time.time(),
            "run_id": os.environ.get(ENV_RUN_ID), "restart": _restart_from_env(),
            "tree": f"{prefix}/tree.json",
            "files": [{"path": f.path, "size": f.size, "crc32": f.crc32} for f in files],
        }
        log.debug("publishing the manifest of step %d", step)
        storage.publish(f"{MANIFESTS}/{step:012d}.json", dumps(manifest))
        self._prefixes[step] = prefix
        self.last_step = step
        log.info("checkpoint of step %d saved in %.2f s (%d bytes)", step,
                 time.monotonic() - started, sum(f.size for f in files))

    def _prune(self, newest: int) -> None:
        """Keep the newest `keep` manifests; remove the others, then every unreferenced prefix of
        a step not after `newest` (older checkpoints and saves that were killed half-way)."""
        steps = self._manifest_steps()
        dropped = steps[self.keep:] if self.keep is not None else []
        kept = steps[:self.keep] if self.keep is not None else steps
        for step in dropped:  # manifests first: a checkpoint is never listed without its files
            self._storage.remove(f"{MANIFESTS}/{step:012d}.json")
            self._prefixes.pop(step, None)
        referenced, unknown = set(), set()
        for step in kept:
            prefix = self._prefix_of(step)
            if prefix is None:
                unknown.add(step)
            else:
                referenced.add(prefix)
        for name in self._storage.listdir(MANIFESTS):
            if name.startswith(".") and name.endswith(".tmp"):  # a publish killed half-way
                self._storage.remove(f"{MANIFESTS}/{name}")
        for name in self._storage.listdir(""):
            match = _PREFIX.match(name)
            if match is None or name in referenced:
                continue
            step = int(match.group(1))
            if step <= newest and step not in unknown:
                self._storage.remove(name)
        log.debug("pruned after step %d", newest)

    # -- loading -------------------------------------------------------------------------------

    def steps(self) -> list[int]:
        """Steps that have a manifest once the save in flight is done, newest first (complete or
        not: load_latest checks)."""
        self.wait()
        return self._manifest_steps()

    def _manifest_steps(self) -> list[int]:
        names = self._storage.listdir(MANIFESTS)
        return sorted((int(m.group(1)) for m in map(_MANIFEST.match, names) if m), reverse=True)

    def load_latest(self, map_location="cpu") -> Checkpoint | None:
        """The newest complete checkpoint, or None if there is none.

        A manifest whose files are missing, short or corrupt is skipped with a warning and the
        next older one is tried. Errors reaching the storage itself (permissions, network) are
        raised: resuming silently from an older step would be worse.
        """
        from .checkpoint_io import IncompleteCheckpoint

        self.wait()
        for step in self._manifest_steps():
            try:
                return self._load(step, map_location)
            except IncompleteCheckpoint as e:
                log.warning("skipping the checkpoint of step %d: %s", step, e)
        return None

    def _read_manifest(self, step: int) -> dict:
        from .checkpoint_io import IncompleteCheckpoint

        raw = self._storage.read_small(f"{MANIFESTS}/{step:012d}.json")
        try:
            manifest = json.loads(raw)
        except ValueError as e:
            raise IncompleteCheckpoint(f"manifest of step {step} is not JSON") from e
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT \
                or manifest.get("step") != step:
            raise IncompleteCheckpoint(f"manifest of step {step} is not an {FORMAT} manifest")
        return manifest

    def _prefix_of(self, step: int) -> str | None:
        from .checkpoint_io import IncompleteCheckpoint

        if step not in self._prefixes:
            try:
                self._prefixes[step] = self._read_manifest(step)["prefix"]
            except (IncompleteCheckpoint, KeyError):
                return None
        return self._prefixes[step]

    def _load(self, step: int, map_location) -> Checkpoint:
        from .checkpoint_io import FileRecord, IncompleteCheckpoint, decode

        manifest = self._read_manifest(step)
        try:
            prefix = manifest["prefix"]
            records = {f["path"]: FileRecord(f["path"], int(f["size"]), int(f["crc32"]))
                       for f in manifest["files"]}
            tree_path = manifest["tree"]
        except (KeyError, TypeError, ValueError) as e:
            raise IncompleteCheckpoint(f"manifest of step {step} lacks {e}") from e
        present = self._storage.sizes(prefix)  # one listing, before reading anything big
        for record in records.values():
            if present.get(record.path) != record.size:
                raise IncompleteCheckpoint(f"{record.path} is missing or not {record.size} bytes")
        if tree_path not in records:
            raise IncompleteCheckpoint(f"manifest of step {step} lists no {tree_path}")
        try:
            tree = json.loads(self._storage.read(records[tree_path]))
        except ValueError as e:
            raise IncompleteCheckpoint(f"{tree_path} is not JSON") from e

        def read_blob(name: str):
            record = records.get(f"{prefix}/{name}")
            if record is None:
                raise IncompleteCheckpoint(f"{prefix}/{name} is not in the manifest")
            return self._storage.read(record)

        self._prefixes[step] = prefix
        return Checkpoint(decode(tree, read_blob, map_location), step)

    def close(self) -> None:
        """Wait for the save in flight and give SIGTERM back to the handler found before."""
        self.wait()
        if threading.current_thread() is threading.main_thread():
            for sig, previous in self._previous_handlers.items():
                signal.signal(sig, previous)
        self._previous_handlers.clear()

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
