"""Shared fixtures: every test gets its own nbctl home (data, config, state store)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def nbctl_home(tmp_path, monkeypatch):
    home = tmp_path / "nbctl-home"
    home.mkdir()
    monkeypatch.setenv("NBCTL_HOME", str(home))
    monkeypatch.setenv("NBCTL_RETRY_SCALE", "0.01")
    monkeypatch.setenv("NBCTL_OWNER", "tester")
    monkeypatch.delenv("NBCTL_STATE_URL", raising=False)
    monkeypatch.delenv("NBCTL_CONFIG", raising=False)
    monkeypatch.delenv("NBCTL_LOCAL_PREEMPT_AFTER", raising=False)
    from orchestrator import config
    config.load_config.cache_clear()
    yield home
    config.load_config.cache_clear()


def run_nbctl(*args: str, env: dict | None = None, timeout: float = 180,
              input: str | None = None) -> subprocess.CompletedProcess:
    """Run the real CLI in a subprocess, as a user would."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env.setdefault("PYTHONPATH", str(REPO))
    return subprocess.run([sys.executable, "-m", "orchestrator", *args], capture_output=True,
                          text=True, timeout=timeout, env=full_env, cwd=REPO, input=input)


@pytest.fixture
def nbctl():
    return run_nbctl
