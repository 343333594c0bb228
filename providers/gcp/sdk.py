"""google-cloud-compute, loaded by the parts nbctl uses.

The package's `__init__` imports all ~80 of its service clients: two thirds of its import time
(1.3 s of 2 s on a quiet 2-core machine, several seconds on a busy one), for five clients
nbctl uses. `compute_v1` here is that same package module, made without running its
`__init__`: a message type comes from its `types` module and a client `XxxClient` from
`services.xxx`, each on first use. Anything else asked of it runs the real `__init__` once, so
any other code in the process that imports the package still finds all of it.
"""
from __future__ import annotations

import importlib
import importlib.util
import re
import sys
import threading
from types import ModuleType

PACKAGE = "google.cloud.compute_v1"
_LOCK = threading.Lock()


def _package() -> ModuleType:
    with _LOCK:
        if PACKAGE in sys.modules:  # imported already, whole or by this module
            return sys.modules[PACKAGE]
        spec = importlib.util.find_spec(PACKAGE)
        package = importlib.util.module_from_spec(spec)

        def resolve(name: str):
            if name.startswith("__") or importlib.util.find_spec(f"{PACKAGE}.{name}"):
                raise AttributeError(name)  # a submodule: the import system loads it
            if name.endswith("Client"):  # InstancesClient -> services.instances
                service = re.sub(r"(?<!^)(?=[A-Z])", "_", name[:-len("Client")]).lower()
                if importlib.util.find_spec(f"{PACKAGE}.services.{service}"):
                    return _keep(package, name, importlib.import_module(
                        f"{PACKAGE}.services.{service}"))
            types = importlib.import_module(f"{PACKAGE}.types")
            if hasattr(types, name):
                return _keep(package, name, types)
            with _LOCK:  # something else: the package's own __init__, once
                if package.__dict__.get("__getattr__") is resolve:
                    del package.__getattr__
                    spec.loader.exec_module(package)
            return getattr(package, name)

        package.__getattr__ = resolve
        sys.modules[PACKAGE] = package
        setattr(importlib.import_module("google.cloud"), "compute_v1", package)
        return package


def _keep(package: ModuleType, name: str, source: ModuleType):
    value = getattr(source, name)
    setattr(package, name, value)
    return value


compute_v1 = _package()
