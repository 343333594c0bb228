"""Built-in providers and third-party ones from the `nbctl.providers` entry-point group.

Nothing is imported until a provider is asked for by name; entry points are read only when
a name is not built in, or when every provider is listed.
"""
from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

from .errors import UserError
from .provider import Provider, contract_problems

BUILTIN: dict[str, str] = {
    "local": "nbctl_cloud.providers.local:LocalProvider",
    "gcp": "nbctl_cloud.providers.gcp:GcpProvider",
    "aws": "nbctl_cloud.providers.aws:AwsProvider",
    "paperspace": "nbctl_cloud.providers.paperspace:PaperspaceProvider",
    "kaggle": "nbctl_cloud.providers.kaggle:KaggleProvider",
    "colab": "nbctl_cloud.providers.colab:ColabProvider",
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
    problems = contract_problems(cls)
    if problems:
        raise UserError(f"the {name} provider ({target}) is refused: {problems[0]}; fix the "
                        f"plugin or uninstall it")
    return cls


def check_sdk(cls: type[Provider]) -> None:
    """Raise a UserError with install advice if the provider's SDK extra is missing."""
    missing = [m for m in cls.sdk_modules if not _importable(m)]
    if missing:
        extra = install_hint(cls.extra) if cls.extra else "install its package"
        raise UserError(f"the {cls.name} provider needs {', '.join(missing)}: {extra}")


DISTRIBUTION = "nbctl-cloud"


def install_hint(extra: str) -> str:
    """How to add an extra: from the folder or URL nbctl itself was installed from (PEP 610's
    direct_url.json, or the source folder of a development install), never from a package
    index, where the name nbctl is another project's."""
    return f"pip install '{install_source()}[{extra}]' (nbctl's repository, with the {extra} extra)"


def install_source() -> str:
    import json
    from importlib.metadata import distributions

    folder = None
    for dist in distributions(name=DISTRIBUTION):
        try:
            info = json.loads(dist.read_text("direct_url.json") or "{}")
        except ValueError:
            info = {}
        url = info.get("url", "")
        if url:
            source = url[len("file://"):] if url.startswith("file://") else url
            return f"git+{source}" if "vcs_info" in info else source
        base = Path(str(dist.locate_file("")))
        if folder is None and (base / "pyproject.toml").is_file():
            folder = str(base)  # metadata beside the sources: a development checkout
    return folder or "/path/to/nbctl"


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
