"""The emulators and the product stay independent witnesses of each other.

An emulator never imports nbctl (its behaviour comes from the clouds' references, not from
the client it tests), and a product test takes from an emulator only its server classes and
control types, never a message, a table or any other constant it could assert against.
"""
from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
EMULATORS = TESTS / "emulators"
PRODUCT = "nbctl_cloud"
IMPORTERS = {"import_module", "__import__", "find_spec", "spec_from_file_location"}


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(TESTS.parent))
    except ValueError:  # a probe outside the repository
        return path.name


def _tree(path: Path) -> ast.AST:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _is_product(name: str | None) -> bool:
    return bool(name) and (name == PRODUCT or name.startswith(PRODUCT + "."))


def product_imports(path: Path) -> list[str]:
    """Each place the module imports nbctl: import statements and importlib calls by name."""
    found = []
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if _is_product(a.name)]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and _is_product(node.module):
            found.append(f"from {node.module} import ...")
        elif isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in IMPORTERS:
                found += [f"{called}({arg.value!r})" for arg in node.args
                          if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
                          and _is_product(arg.value)]
    return [f"{_rel(path)}:{item}" for item in found]


def _is_emulator(module: str | None) -> bool:
    return bool(module) and (module == "tests.emulators" or module.startswith("tests.emulators."))


def _allowed(value) -> bool:
    """Classes, functions, modules, and objects of the emulators' own control types (a
    `Delays` instance); never a str, number, dict, list or other plain constant."""
    if inspect.isclass(value) or inspect.isfunction(value) or inspect.ismodule(value):
        return True
    return _is_emulator(type(value).__module__)


def emulator_constants(path: Path) -> list[str]:
    """Names a test takes from tests.emulators.* that are not a class, function or module,
    including attributes read through an imported emulator module (`mod.TEXT`)."""
    tree = _tree(path)
    modules: dict[str, object] = {}  # local alias -> emulator module
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and _is_emulator(node.module):
            source = importlib.import_module(node.module)
            for alias in node.names:
                if alias.name == "*":
                    bad.append(f"from {node.module} import *")
                    continue
                value = getattr(source, alias.name, None)
                if value is None:
                    value = importlib.import_module(f"{node.module}.{alias.name}")
                if inspect.ismodule(value):
                    modules[alias.asname or alias.name] = value
                elif not _allowed(value):
                    bad.append(f"{node.module}.{alias.name} ({type(value).__name__})")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if _is_emulator(alias.name) and alias.asname:
                    modules[alias.asname] = importlib.import_module(alias.name)
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in modules):
            value = getattr(modules[node.value.id], node.attr, None)
            if value is not None and not _allowed(value):
                bad.append(f"{modules[node.value.id].__name__}.{node.attr} "
                           f"({type(value).__name__})")
    return [f"{_rel(path)}: {b}" for b in sorted(set(bad))]


def _test_modules() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if EMULATORS not in p.parents)


def test_no_emulator_module_imports_the_product():
    found = [hit for path in sorted(EMULATORS.rglob("*.py")) for hit in product_imports(path)]
    assert found == [], "emulators must not import nbctl:\n" + "\n".join(found)


def test_tests_take_from_emulators_only_classes_functions_and_modules():
    found = [hit for path in _test_modules() for hit in emulator_constants(path)]
    assert found == [], ("tests import constants from emulators (assert on the cloud's "
                         "references instead):\n" + "\n".join(found))


@pytest.mark.parametrize("source,expected", [
    ("import nbctl_cloud.model\n", ["import nbctl_cloud.model"]),
    ("from nbctl_cloud.errors import UserError\n", ["from nbctl_cloud.errors import ..."]),
    ("import importlib\nimportlib.import_module('nbctl_cloud.providers')\n",
     ["import_module('nbctl_cloud.providers')"]),
    ("__import__('nbctl_cloud')\n", ["__import__('nbctl_cloud')"]),
    ("import nbctl_cloudish\nfrom . import nbctl_cloud\n", []),
])
def test_the_product_import_scan_sees_every_form(tmp_path, source, expected):
    probe = tmp_path / "probe.py"
    probe.write_text(source)
    assert [hit.split(":", 1)[1] for hit in product_imports(probe)] == expected


def test_the_constant_scan_flags_a_message_and_allows_a_class(tmp_path):
    probe = tmp_path / "probe_test.py"
    probe.write_text("from tests.emulators.paperspace import PaperspaceEmulator\n"
                     "from tests.emulators.paperspace import reference\n"
                     "from tests.emulators.paperspace.reference import REGIONS\n"
                     "TEXT = reference.CAPACITY\n")
    assert emulator_constants(probe) == [
        "probe_test.py: tests.emulators.paperspace.reference.CAPACITY (str)",
        "probe_test.py: tests.emulators.paperspace.reference.REGIONS (tuple)"]
