"""Google's generated client packages (google-cloud-compute's `compute_v1`, google-cloud-
aiplatform's `aiplatform_v1`), loaded by the parts nbctl uses.

Such a package's `__init__` imports every service client and message type it has: for
compute_v1, ~80 clients, two thirds of its import time (1.3 s of 2 s on a quiet 2-core
machine, several seconds on a busy one), for the five nbctl uses; for aiplatform_v1, ~60
services and the hundreds of modules of its `types` package (3-4 s), for NotebookService.
`package()` makes such a package module without running its `__init__`: a client `XxxClient`
comes from `services.xxx` and a message type from the types modules named, each on first use.
Anything else asked of it runs the real `__init__` once, so any other code in the process that
imports the package still finds all of it.
"""
from __future__ import annotations

import importlib
import importlib.util
import re
import sys
import threading
from types import ModuleType
from typing import Callable

_LOCK = threading.RLock()  # re-entrant: a real `__init__` run under it may ask a bare subpackage


def package(name: str, types: tuple[str, ...], bare: tuple[str, ...] = ()) -> ModuleType:
    """The package `name`, whole if something imported it already, else made bare. `types`: its
    modules (relative names) that hold the message types nbctl uses; `bare`: subpackages made
    without their `__init__` too (aiplatform_v1's `types` imports all its modules)."""
    with _LOCK:
        if name in sys.modules:  # imported already, whole or by this module
            return sys.modules[name]

        def find(attr: str) -> ModuleType | None:
            if attr.endswith("Client"):  # InstancesClient -> services.instances
                service = re.sub(r"(?<!^)(?=[A-Z])", "_", attr[:-len("Client")]).lower()
                if importlib.util.find_spec(f"{name}.services.{service}"):
                    return importlib.import_module(f"{name}.services.{service}")
            for module in types:
                found = importlib.import_module(f"{name}.{module}")
                if hasattr(found, attr):
                    return found
            return None

        made = _bare(name, find)
        for sub in bare:
            _bare(f"{name}.{sub}", lambda attr: None)
        return made


def _bare(name: str, find: Callable[[str], ModuleType | None]) -> ModuleType:
    spec = importlib.util.find_spec(name)
    module = importlib.util.module_from_spec(spec)

    def resolve(attr: str):
        if attr.startswith("__") or importlib.util.find_spec(f"{name}.{attr}"):
            raise AttributeError(attr)  # a submodule: the import system loads it
        source = find(attr)
        if source is not None:
            value = getattr(source, attr)
            setattr(module, attr, value)
            return value
        with _LOCK:  # something else: the package's own __init__, once
            if module.__dict__.get("__getattr__") is resolve:
                del module.__getattr__
                spec.loader.exec_module(module)
        return getattr(module, attr)

    module.__getattr__ = resolve
    sys.modules[name] = module
    parent, _, last = name.rpartition(".")
    setattr(importlib.import_module(parent), last, module)
    return module
