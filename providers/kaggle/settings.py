"""The Kaggle provider's settings and credentials: Kaggle's own chain, never nbctl's store.

Credentials, the first that is there (what the kaggle CLI and kagglesdk read):
  KAGGLE_USERNAME and KAGGLE_KEY in the environment;
  KAGGLE_API_TOKEN (a token, or a file holding one) or ~/.kaggle/access_token, which kagglesdk
      reads itself, with the user name from KAGGLE_USERNAME or `username` below;
  kaggle.json ({"username", "key"}) in KAGGLE_CONFIG_DIR, else ~/.kaggle.
They are handed to kagglesdk's client and nowhere else: not to the store, the log, a command
line or the script nbctl pushes.

Config (`[providers.kaggle]` in nbctl's config.toml), every key optional:
  username       the Kaggle user whose kernels nbctl pushes (KAGGLE_USERNAME wins)
  session_limit  how long Kaggle lets a session run (default 12h, Kaggle's limit for GPU and
                 CPU sessions); sent as the version's timeout
  stop_margin    how long before that limit (or the end of the GPU quota left) nbctl's runtime
                 gives the job its SIGTERM notice (default 15m)
  grace          how long the job then has to save its checkpoint before it is killed (default
                 5m; part of the margin)
NBCTL_KAGGLE_API_URL (environment) points kagglesdk at another endpoint, such as a test server.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from nbctl_cloud.errors import AuthError, UserError
from nbctl_cloud.spec import parse_duration

URL_ENV = "NBCTL_KAGGLE_API_URL"
CREDENTIALS_HINT = ("set KAGGLE_USERNAME and KAGGLE_KEY (an API key from "
                    "https://www.kaggle.com/settings), or KAGGLE_API_TOKEN with KAGGLE_USERNAME, "
                    "or put kaggle.json in ~/.kaggle")
SESSION_LIMIT = 12 * 3600  # Kaggle's limit for a GPU (or CPU) session, in seconds


@dataclass(frozen=True)
class Credentials:
    username: str
    key: str | None  # None: kagglesdk uses the access token it finds itself

    def __repr__(self) -> str:  # never shows the key
        return f"Credentials(username={self.username!r})"


@dataclass(frozen=True)
class Settings:
    username: str | None
    session_limit: int
    stop_margin: int
    grace: int
    api_url: str | None

    @classmethod
    def load(cls, config: dict) -> "Settings":
        def seconds(key: str, default: str) -> int:
            return parse_duration(str(config.get(key) or default),
                                  what=f"{key} under [providers.kaggle]")

        limit = seconds("session_limit", "12h")
        margin, grace = seconds("stop_margin", "15m"), seconds("grace", "5m")
        if limit > SESSION_LIMIT:
            raise UserError(f"session_limit under [providers.kaggle] is over Kaggle's "
                            f"{SESSION_LIMIT // 3600}h: lower it")
        if not grace < margin < limit:
            raise UserError("under [providers.kaggle], grace must be shorter than stop_margin, "
                            "and stop_margin shorter than session_limit: change them")
        return cls(username=str(config.get("username") or "") or None, session_limit=limit,
                   stop_margin=margin, grace=grace, api_url=os.environ.get(URL_ENV) or None)


def _kaggle_json() -> dict | None:
    folder = os.environ.get("KAGGLE_CONFIG_DIR") or str(Path.home() / ".kaggle")
    try:
        data = json.loads((Path(folder) / "kaggle.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("username") and data.get("key") else None


def _has_token() -> bool:
    home = Path.home() / ".kaggle"
    return bool(os.environ.get("KAGGLE_API_TOKEN")) or any(
        (home / name).is_file() for name in ("access_token", "access_token.txt"))


def credentials(settings: Settings) -> Credentials:
    """The user's credentials from Kaggle's chain; AuthError naming the variables if none."""
    user, key = os.environ.get("KAGGLE_USERNAME"), os.environ.get("KAGGLE_KEY")
    if user and key:
        return Credentials(user, key)
    if _has_token():
        name = user or settings.username or (_kaggle_json() or {}).get("username")
        if not name:
            raise AuthError("a Kaggle access token names no user: set KAGGLE_USERNAME (or "
                            "username under [providers.kaggle])")
        return Credentials(name, None)
    found = _kaggle_json()
    if found:
        return Credentials(str(found["username"]), str(found["key"]))
    raise AuthError(f"no Kaggle credentials found: {CREDENTIALS_HINT}")
