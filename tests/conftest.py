"""Shared fixtures: every test gets its own nbctl home (data, config, state store)."""
from __future__ import annotations

import functools
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def wait_for(predicate, timeout: float, step: float = 0.05, what: str | None = None) -> bool:
    """Poll `predicate` until it is true (returns True); TimeoutError naming `what` (or the
    predicate) if it is still false after `timeout` seconds. Never returns False."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    if predicate():
        return True
    raise TimeoutError(f"still waiting after {timeout:g} s for "
                       f"{what or getattr(predicate, '__name__', repr(predicate))}")


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
    from nbctl_cloud import config
    config.load_config.cache_clear()
    yield home
    config.load_config.cache_clear()


@functools.cache
def startup_modules() -> frozenset[str]:
    """The modules a fresh interpreter here holds before it runs a line: site's own, and the
    namespace packages a `*-nspkg.pth` file sets up (google-cloud-aiplatform's puts empty
    `google` and `google.cloud` in sys.modules). A check of what code imports leaves them out."""
    out = subprocess.run([sys.executable, "-c", "import sys; print('\\n'.join(sys.modules))"],
                         capture_output=True, text=True, check=True).stdout
    return frozenset(out.split())


def run_nbctl(*args: str, env: dict | None = None, timeout: float = 180,
              input: str | None = None) -> subprocess.CompletedProcess:
    """Run the real CLI in a subprocess, as a user would."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env.setdefault("PYTHONPATH", str(REPO))
    return subprocess.run([sys.executable, "-m", "nbctl_cloud", *args], capture_output=True,
                          text=True, timeout=timeout, env=full_env, cwd=REPO, input=input)


@pytest.fixture
def nbctl():
    return run_nbctl


# -- state stores for shared-store tests: SQLite always, PostgreSQL when available --------
PG_URL = os.environ.get("NBCTL_TEST_POSTGRES_URL")


def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path}/shared.db"


def postgres_url():
    """A fresh database on the test server; yields its URL and drops it afterwards."""
    if not PG_URL:
        pytest.skip("no PostgreSQL server: set NBCTL_TEST_POSTGRES_URL (.ci/run installs and "
                    "starts Debian's postgresql)")
    from sqlalchemy import create_engine, text
    name = f"nbctl_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://"),
                          isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    base = PG_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
    else:
        yield from postgres_url()


def plugin_env(tmp_path: Path, provider: str, source: str, cls: str) -> dict[str, str]:
    """An environment whose Python finds a one-module plugin distribution (package and
    .dist-info with its `nbctl.providers` entry point) in tmp_path/site, as pip lays one out."""
    site, module = tmp_path / "site", f"nbctl_{provider}"
    (site / module).mkdir(parents=True)
    (site / module / "__init__.py").write_text(source)
    dist = site / f"{module}-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: nbctl-{provider}\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[nbctl.providers]\n{provider} = {module}:{cls}\n")
    return {"PYTHONPATH": f"{REPO}:{site}"}
