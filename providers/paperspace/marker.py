"""How nbctl marks the machines it made, without storing anything.

Paperspace API v1 machines carry no tags or labels (the Machine object has none), and names
are not unique. So each nbctl machine gets its own startup script (POST /startup-scripts),
named `nbctl:<owner>:<name>:<spec-hash>` and passed as `startupScriptId` when the machine is
created; the script's `assignedMachineIds` then ties it to the machine. A machine is nbctl's
if and only if such a script is assigned to it; the script name carries the nbctl labels.
"""
from __future__ import annotations

from dataclasses import dataclass

from nbctl_cloud.model import LABEL_NAME, LABEL_OWNER, LABEL_SPEC_HASH

PREFIX = "nbctl"
SEP = ":"


@dataclass(frozen=True)
class Marker:
    owner: str
    name: str
    spec_hash: str

    @property
    def script_name(self) -> str:
        return SEP.join((PREFIX, self.owner, self.name, self.spec_hash))

    @property
    def labels(self) -> dict[str, str]:
        return {LABEL_NAME: self.name, LABEL_OWNER: self.owner, LABEL_SPEC_HASH: self.spec_hash}

    @classmethod
    def from_labels(cls, labels: dict[str, str]) -> "Marker":
        """The marker of a spec's labels, as the core stamps them (InstanceSpec.stamped)."""
        try:
            return cls(owner=labels[LABEL_OWNER], name=labels[LABEL_NAME],
                       spec_hash=labels[LABEL_SPEC_HASH])
        except KeyError as e:
            raise ValueError(f"a spec without nbctl's {e.args[0]} label: create takes the "
                             f"spec the core stamped (InstanceSpec.stamped())") from None

    @classmethod
    def parse(cls, script_name: str | None) -> "Marker | None":
        """The marker a startup script's name carries, or None if it is not nbctl's."""
        parts = str(script_name or "").split(SEP)
        if len(parts) != 4 or parts[0] != PREFIX or not all(parts[1:3]):
            return None
        return cls(owner=parts[1], name=parts[2], spec_hash=parts[3])

