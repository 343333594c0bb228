"""Fixtures for the fake Kaggle API: the fake on loopback, and kagglesdk's own client pointed at
it the one way kagglesdk allows (KAGGLE_API_ENVIRONMENT=LOCALHOST and the LOCAL row of its
endpoint table). Every test fails if the fake received a request that does not fit the
request messages of kagglesdk."""
from __future__ import annotations

import json
import os
import shutil

import pytest

from tests.conftest import REPO, run_nbctl
from tests.emulators.kaggle import KaggleEmulator

USER, KEY = "kaggler", "kg-test-key"
# nbctl's settings for jobs on the fake: 16 s sessions, stopped 7 s ahead of their limit
CONFIG = ('[providers.kaggle]\nsession_limit = "16s"\nstop_margin = "7s"\ngrace = "3s"\n')
TRAIN = REPO / "scripts" / "examples" / "train_numpy.py"


@pytest.fixture(scope="session")
def image_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("kaggle-image") / "python"


@pytest.fixture
def make_fake(tmp_path, image_dir):
    made = []

    def make(**kw) -> KaggleEmulator:
        kw.setdefault("grace_seconds", 1.0)
        fake = KaggleEmulator(users={USER: KEY}, tokens={"kgat-token": USER},
                              root=tmp_path / f"kaggle-{len(made)}", image=image_dir, **kw)
        made.append(fake.start())
        return fake

    yield make
    for fake in made:
        fake.stop()
        assert fake.violations == [], "requests that do not fit kagglesdk's messages"


@pytest.fixture
def fake(make_fake):
    return make_fake()


@pytest.fixture
def client_for(monkeypatch, tmp_path):
    """kagglesdk's KaggleClient for a fake, with the given credentials (default: the user's
    key); HOME is a folder with no ~/.kaggle, so nothing of the machine's own is read."""
    from kagglesdk import KaggleClient, KaggleEnv
    from kagglesdk import kaggle_env

    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    for name in ("KAGGLE_API_TOKEN", "KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_KERNEL_RUN_TYPE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KAGGLE_API_ENVIRONMENT", "LOCALHOST")

    def make(fake: KaggleEmulator, **credentials):
        monkeypatch.setitem(kaggle_env._env_to_endpoint, KaggleEnv.LOCAL, fake.url)
        if not credentials:
            credentials = {"username": USER, "password": KEY}
        return KaggleClient(**credentials)

    return make


@pytest.fixture
def kaggle(fake, client_for):
    with client_for(fake) as client:
        yield client


# -- nbctl's Kaggle jobs through the CLI ------------------------------------------------------
@pytest.fixture
def kfake(make_fake):
    # Kaggle's hours in real time: the session limit is the one nbctl asks for, in seconds
    return make_fake(hour_seconds=3600.0, grace_seconds=1.0)


@pytest.fixture
def env(kfake, nbctl_home, tmp_path):
    home = tmp_path / "home"  # no ~/.kaggle of the machine's own
    home.mkdir()
    (nbctl_home / "config.toml").write_text(CONFIG)
    base = {k: v for k, v in os.environ.items()
            if not k.startswith("KAGGLE_") and k != "NBCTL_KAGGLE_API_URL"}
    return dict(base, HOME=str(home), PYTHONPATH=str(REPO), **kfake.env(USER))


@pytest.fixture
def workdir(tmp_path):
    d = tmp_path / "project"
    d.mkdir()
    shutil.copy(TRAIN, d / "train_numpy.py")
    return d


def job_json(env, run_id: str) -> dict:
    done = run_nbctl("jobs", "status", run_id, "-o", "json", env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def logs(env, run_id: str) -> list[dict]:
    done = run_nbctl("jobs", "logs", run_id, "-o", "json", env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["attempts"]
