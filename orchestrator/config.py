"""Where nbctl keeps things, and the user's TOML config.

NBCTL_HOME (tests, several inventories side by side) puts data and config under one folder;
otherwise the platform's user data and config dirs (platformdirs) are used.
Config: `config.toml` with one table per provider, e.g. [providers.gcp] project = "...".
"""
from __future__ import annotations

import getpass
import os
import re
import tomllib
from functools import lru_cache
from pathlib import Path

from .errors import UserError

APP = "nbctl"


def data_dir() -> Path:
    home = os.environ.get("NBCTL_HOME")
    if home:
        d = Path(home) / "data"
    else:
        from platformdirs import user_data_dir
        d = Path(user_data_dir(APP))
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    return d


def config_path() -> Path:
    explicit = os.environ.get("NBCTL_CONFIG")
    if explicit:
        return Path(explicit)
    home = os.environ.get("NBCTL_HOME")
    if home:
        return Path(home) / "config.toml"
    from platformdirs import user_config_dir
    return Path(user_config_dir(APP)) / "config.toml"


@lru_cache(maxsize=1)
def load_config() -> dict:
    path = config_path()
    if not path.exists():
        return {}
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"cannot read {path}: {e}; fix the TOML syntax there") from None


def provider_config(name: str) -> dict:
    return dict(load_config().get("providers", {}).get(name, {}))


def owner() -> str:
    """The nbctl-owner label: the config's `owner`, else the login name, label-safe."""
    raw = os.environ.get("NBCTL_OWNER") or load_config().get("owner")
    if not raw:
        try:
            raw = getpass.getuser()
        except Exception:  # no login name in some containers; any stable word will do
            raw = "nbctl"
    safe = re.sub(r"[^a-z0-9_-]", "-", str(raw).lower())[:63].strip("-")
    return safe or "nbctl"
