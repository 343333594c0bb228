"""Fixtures for the dashboard: `nbctl ui` as a user starts it, and the system's Chromium, headless,
driven by Playwright (no browser is downloaded: the tests skip, saying why, without one)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading

import pytest

from tests.conftest import REPO, wait_for

CHROMIUM = next(filter(None, (os.environ.get("NBCTL_TEST_CHROMIUM"), shutil.which("chromium"),
                              shutil.which("chromium-browser"))), None)


class Dashboard:
    """A running `nbctl ui --no-browser`: its printed URL, and its output so far."""

    def __init__(self, *args: str, home: str | None = None, env: dict | None = None):
        env = dict(env or os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
        if home is not None:
            env["NBCTL_HOME"] = home
        self.proc = subprocess.Popen([sys.executable, "-m", "nbctl_cloud", "ui", "--no-browser",
                                      *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, env=env, cwd=REPO)
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        wait_for(lambda: self.url or self.proc.poll() is not None, 120,
                 what="`nbctl ui` to print its URL")
        if not self.url:
            raise AssertionError(f"`nbctl ui` exited: {''.join(self.output)}")
        m = re.match(r"http://([^/]+)/\?token=(\S+)", self.url)
        self.host, self.token = m.group(1), m.group(2)
        self.base = f"http://{self.host}"

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.output.append(line)

    @property
    def url(self) -> str | None:
        m = re.search(r"http://\S+\?token=\S+", "".join(self.output))
        return m.group(0) if m else None

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def dashboard(nbctl_home):
    d = Dashboard()
    yield d
    d.stop()


@pytest.fixture(scope="module")
def chromium():
    if CHROMIUM is None:
        pytest.skip("no Chromium on this machine: `apt-get install chromium` (.ci/run does), "
                    "or set NBCTL_TEST_CHROMIUM to its path")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("Playwright is not installed: pip install -e '.[test]'")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()


@pytest.fixture
def page(chromium, dashboard):
    """A fresh browser context signed in through the printed URL."""
    context = chromium.new_context(viewport={"width": 1400, "height": 900})
    p = context.new_page()
    p.set_default_timeout(60_000)
    p.goto(dashboard.url)
    yield p
    context.close()
