"""The example's "cloud": machines in one JSON file (a real provider talks to an API instead).

Like an API it answers in its own words: statuses (booting, up, halting, halted) and error codes
(CloudError.code). A booting or halting machine moves on after `steps` looks (describe calls).
"""
import json
import os
import time
from pathlib import Path

_NEXT = {"booting": "up", "halting": "halted"}  # where a machine goes after `steps` looks


class CloudError(Exception):
    """The cloud's refusal; args: (code, message)."""


class Cloud:
    def __init__(self, path: Path, steps: int = 2):
        self.path, self.steps = path, steps

    def _load(self) -> dict:
        try:
            return json.loads(self.path.read_text())
        except FileNotFoundError:
            return {"machines": {}, "refused": {}}

    def _save(self, data: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        os.replace(tmp, self.path)  # readers never see half a file

    def create(self, name: str, machine: dict) -> dict:
        """Make a machine, booting; an existing name answers with the machine it names."""
        data = self._load()
        if name in data["refused"]:
            raise CloudError(data["refused"][name], f"there is no room for {name}")
        if name not in data["machines"]:
            data["machines"][name] = dict(machine, name=name, id=f"ex-{time.time_ns():x}",
                                          status="booting", steps=self.steps, created=time.time())
            self._save(data)
        return data["machines"][name]

    def describe(self, name: str) -> dict | None:
        data = self._load()
        machine = data["machines"].get(name)
        if machine is not None and machine["status"] in _NEXT:
            machine["steps"] -= 1
            if machine["steps"] <= 0:
                machine["status"] = _NEXT[machine["status"]]
            self._save(data)
        return machine

    def machines(self) -> list[dict]:
        return list(self._load()["machines"].values())

    def move(self, name: str, to: str) -> None:
        """Halt ("halting") an up or booting machine, or boot ("booting") a halted one."""
        data = self._load()
        machine = data["machines"].get(name)
        if machine is None:
            raise CloudError("NO_SUCH_MACHINE", f"there is no machine named {name}")
        if machine["status"] in {"halting": ("up", "booting"), "booting": ("halted",)}[to]:
            machine.update(status=to, steps=self.steps)
            self._save(data)

    def destroy(self, name: str) -> None:
        data = self._load()
        data["machines"].pop(name, None)
        self._save(data)

    def refuse(self, name: str, code: str) -> None:
        """Answer every create of `name` with the error `code` (how tests make it fail)."""
        data = self._load()
        data["refused"][name] = code
        self._save(data)
