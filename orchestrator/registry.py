"""Built-in providers and third-party ones from the `nbctl.providers` entry-point group.

Nothing is imported until a provider is asked for by name; entry points are read only when
a name is not built in, or when every provider is listed.
"""
from __future__ import annotations

import importlib
import importlib.util

from .errors import UserError
from .provider import Provider

BUILTIN: dict[str, str] = {
    "local": "providers.local:LocalProvider",
    "gcp": "providers.gcp:GcpProvider",
    "aws": "providers.aws:AwsProvider",
    "paperspace": "providers.paperspace:PaperspaceProvider",
}
ENTRY_POINT_GROUP = "nbctl.providers"


def _entry_points() -> dict[str, str]:
    from importlib.metadata import entry_points
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def names() -> list[str]:
    return sorted(set(BUILTIN) | set(_entry_points()))


def provider_class(name: str) -> type[Provider]:
    target = BUILTIN.get(name) or _entry_points().get(name)
    if target is None:
        raise UserError(f"unknown provider {name!r}: use one of {', '.join(names())}")
    module_name, _, attr = target.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as e:
        raise UserError(f"the {name} provider failed to load ({e}); reinstall nbctl") from None
    if not (isinstance(cls, type) and issubclass(cls, Provider)):
        raise UserError(f"entry point {name!r} ({target}) is not an nbctl Provider class")
    return cls


def check_sdk(cls: type[Provider]) -> None:
    """Raise a UserError with install advice if the provider's SDK extra is missing."""
    missing = [m for m in cls.sdk_modules if not _importable(m)]
    if missing:
        extra = f"pip install 'nbctl[{cls.extra}]'" if cls.extra else "install its package"
        raise UserError(f"the {cls.name} provider needs {', '.join(missing)}: {extra}")


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def get_provider(name: str, *, need_sdk: bool = True) -> Provider:
    from .config import owner, provider_config

    cls = provider_class(name)
    if need_sdk:
        check_sdk(cls)
    return cls(provider_config(name), owner=owner())
