"""Checkpoints as laid out under one URL. Used by nbctl_cloud.runtime.checkpoint only.

Every file of one checkpoint goes under a fresh `step-<step>-<uuid>/` prefix; its manifest,
`manifests/<step>.json`, is published last and lists each file with its size and CRC-32. A
checkpoint exists once its manifest does, and is trusted only if every listed file matches.
Pruning removes manifests before files, so a manifest never names a file that is gone.
"""
from __future__ import annotations

import json
import logging
import re
import time
import uuid

from .checkpoint_codec import Blob, decode, dumps
from .checkpoint_storage import FileRecord, IncompleteCheckpoint, Storage

FORMAT = "nbctl-checkpoint/1"
MANIFESTS = "manifests"
_MANIFEST = re.compile(r"^(\d{12})\.json$")
_PREFIX = re.compile(r"^step-(\d{12})-[0-9a-f]+$")

# The helper's one logger, whichever of its modules speaks.
log = logging.getLogger("nbctl_cloud.runtime.checkpoint")


class Layout:
    """The checkpoints under one Storage. Not thread-safe: the Checkpointer's lock guards it."""

    def __init__(self, storage: Storage):
        self.storage = storage
        self._prefixes: dict[int, str] = {}  # step -> prefix, for manifests already read

    def write(self, tree, blobs: list[Blob], step: int, about: dict) -> None:
        """Write the checkpoint of `step` and publish its manifest (with `about` in it) last.

        Returns once the checkpoint is durable; a write killed before the manifest is published
        leaves only an unreferenced prefix, which `prune` removes later."""
        started = time.monotonic()
        prefix = f"step-{step:012d}-{uuid.uuid4().hex[:16]}"
        storage = self.storage
        log.debug("writing step %d under %s", step, prefix)
        files = [storage.write(f"{prefix}/{blob.name}", blob.write_to) for blob in blobs]
        tree_bytes = dumps(tree)
        files.append(storage.write(f"{prefix}/tree.json", lambda out: out.write(tree_bytes)))
        storage.sync(prefix)  # the files are durable before the manifest names them
        manifest = {
            "format": FORMAT, "step": step, "prefix": prefix, "created": time.time(), **about,
            "tree": f"{prefix}/tree.json",
            "files": [{"path": f.path, "size": f.size, "crc32": f.crc32} for f in files],
        }
        log.debug("publishing the manifest of step %d", step)
        storage.publish(f"{MANIFESTS}/{step:012d}.json", dumps(manifest))
        self._prefixes[step] = prefix
        log.info("checkpoint of step %d saved in %.2f s (%d bytes)", step,
                 time.monotonic() - started, sum(f.size for f in files))

    def prune(self, keep: int | None, newest: int) -> None:
        """Keep the newest `keep` manifests (all if None); remove the others, then every
        unreferenced prefix of a step not after `newest` (older checkpoints and saves that were
        killed half-way). Names that are not nbctl's checkpoints are never touched."""
        steps = self.steps()
        dropped = steps[keep:] if keep is not None else []
        kept = steps[:keep] if keep is not None else steps
        for step in dropped:  # manifests first: a checkpoint is never listed without its files
            self.storage.remove(f"{MANIFESTS}/{step:012d}.json")
            self._prefixes.pop(step, None)
        referenced, unknown = set(), set()
        for step in kept:
            prefix = self._prefix_of(step)
            if prefix is None:
                unknown.add(step)
            else:
                referenced.add(prefix)
        for name in self.storage.listdir(MANIFESTS):
            if name.startswith(".") and name.endswith(".tmp"):  # a publish killed half-way
                self.storage.remove(f"{MANIFESTS}/{name}")
        for name in self.storage.listdir(""):
            match = _PREFIX.match(name)
            if match is None or name in referenced:
                continue
            step = int(match.group(1))
            if step <= newest and step not in unknown:
                self.storage.remove(name)
        log.debug("pruned after step %d", newest)

    def refuse_if_shared(self) -> None:
        """UserError when another user could have planted a checkpoint here."""
        self.storage.refuse_if_shared("")
        self.storage.refuse_if_shared(MANIFESTS)

    def steps(self) -> list[int]:
        """Steps that have a manifest, newest first (complete or not: `load` checks)."""
        names = self.storage.listdir(MANIFESTS)
        return sorted((int(m.group(1)) for m in map(_MANIFEST.match, names) if m), reverse=True)

    def load(self, step: int, map_location):
        """The state saved as `step`; IncompleteCheckpoint unless every file it lists is there
        with its recorded size and checksum."""
        manifest = self._read_manifest(step)
        try:
            prefix = manifest["prefix"]
            records = {f["path"]: FileRecord(f["path"], int(f["size"]), int(f["crc32"]))
                       for f in manifest["files"]}
            tree_path = manifest["tree"]
        except (KeyError, TypeError, ValueError) as e:
            raise IncompleteCheckpoint(f"manifest of step {step} lacks {e}") from e
        if not isinstance(prefix, str) or not _PREFIX.match(prefix) or "/" in prefix \
                or any(not p.startswith(prefix + "/") or ".." in p.split("/") for p in records):
            raise IncompleteCheckpoint(f"manifest of step {step} names files outside its step")
        self.storage.refuse_if_shared(prefix)
        present = self.storage.sizes(prefix)  # one listing, before reading anything big
        for record in records.values():
            if present.get(record.path) != record.size:
                raise IncompleteCheckpoint(f"{record.path} is missing or not {record.size} bytes")
        if tree_path not in records:
            raise IncompleteCheckpoint(f"manifest of step {step} lists no {tree_path}")
        try:
            tree = json.loads(self.storage.read(records[tree_path]))
        except ValueError as e:
            raise IncompleteCheckpoint(f"{tree_path} is not JSON") from e

        def read_blob(name: str):
            record = records.get(f"{prefix}/{name}")
            if record is None:
                raise IncompleteCheckpoint(f"{prefix}/{name} is not in the manifest")
            return self.storage.read(record)

        self._prefixes[step] = prefix
        return decode(tree, read_blob, map_location)

    def _read_manifest(self, step: int) -> dict:
        raw = self.storage.read_small(f"{MANIFESTS}/{step:012d}.json")
        try:
            manifest = json.loads(raw)
        except ValueError as e:
            raise IncompleteCheckpoint(f"manifest of step {step} is not JSON") from e
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT \
                or manifest.get("step") != step:
            raise IncompleteCheckpoint(f"manifest of step {step} is not an {FORMAT} manifest")
        return manifest

    def _prefix_of(self, step: int) -> str | None:
        if step not in self._prefixes:
            try:
                self._prefixes[step] = self._read_manifest(step)["prefix"]
            except (IncompleteCheckpoint, KeyError):
                return None
        return self._prefixes[step]
