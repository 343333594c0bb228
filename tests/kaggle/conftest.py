"""Fixtures for the fake Kaggle API: the fake on loopback, and kagglesdk's own client pointed at
it the one way kagglesdk allows (KAGGLE_API_ENVIRONMENT=LOCALHOST and the LOCAL row of its
endpoint table). Every test fails if the fake received a request that does not fit the
request messages of kagglesdk."""
from __future__ import annotations

import pytest

from tests.emulators.kaggle import KaggleEmulator

USER, KEY = "kaggler", "kg-test-key"


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
