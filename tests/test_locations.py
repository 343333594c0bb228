"""The core's location cache and the dispatch of providers with several backends
(nbctl_cloud.locations), with a small two-backend provider whose "cloud" is a dict in memory."""
from __future__ import annotations

import json

import pytest
from nbctl_cloud.errors import NotFound
from nbctl_cloud.locations import (
    ABSENT_TTL,
    Location,
    LocationCache,
    MultiBackend,
    StateFile,
    state_file,
)
from nbctl_cloud.model import Instance, State
from nbctl_cloud.provider import Provider

CLOUD: dict[str, dict[str, str]] = {}  # backend -> {name: place}: what the toy cloud holds


class Backend:
    """One backend of the toy cloud; counts the calls made to it."""

    def __init__(self, kind: str):
        self.kind = kind
        self.gets = 0

    def get(self, name: str, place: str) -> Instance | None:
        self.gets += 1
        if CLOUD[self.kind].get(name) != place:
            return None
        return Instance(name=name, provider="toy", state=State.RUNNING, zone=place,
                        backend=self.kind)


class Toy(MultiBackend, Provider):
    name = "toy"
    not_found = "no toy machine named {name!r}"

    def __init__(self):
        super().__init__({}, owner="tester")
        self.searches = 0
        self.made: list[str] = []
        for kind in ("vm", "notebook"):
            self.register_backend(kind, lambda kind=kind: self._make(kind))

    def _make(self, kind: str) -> Backend:
        self.made.append(kind)
        return Backend(kind)

    def search(self, name: str) -> Location | None:
        self.searches += 1
        for kind, names in CLOUD.items():
            if name in names:
                return Location(kind, names[name])
        return None

    def offers(self, gpu=None, count=None, spot=False):
        return []

    def create(self, spec):
        raise NotImplementedError

    def list(self, labels=None):
        return []

    def delete(self, name: str) -> None:
        pass


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def cloud():
    CLOUD.clear()
    CLOUD.update(vm={}, notebook={})
    yield CLOUD


def toy_file(nbctl_home):
    path = nbctl_home / "data" / "toy-locations.json"
    assert state_file("toy").path == path
    return path


# -- the location cache ---------------------------------------------------------------------
def test_a_found_location_is_used_by_the_next_process_without_a_search(cloud):
    cloud["vm"]["a"] = "zone-1"
    first = Toy()
    assert first.get("a").zone == "zone-1" and first.searches == 1
    second = Toy()  # a new process: only the file is shared
    assert second.get("a").zone == "zone-1"
    assert second.searches == 0 and second.backend("vm").gets == 1


def test_a_stale_entry_costs_one_fresh_search(cloud):
    cloud["vm"]["a"] = "zone-1"
    Toy().get("a")
    del cloud["vm"]["a"]
    cloud["notebook"]["a"] = "zone-2"  # made anew elsewhere
    toy = Toy()
    inst = toy.get("a")
    assert (inst.backend, inst.zone) == ("notebook", "zone-2")
    assert toy.searches == 1
    assert toy.backend("vm").gets == 1 and toy.backend("notebook").gets == 1
    assert Toy().locations.get("a") == Location("notebook", "zone-2")


def test_a_deleted_instance_is_forgotten_by_the_file(cloud, nbctl_home):
    cloud["vm"]["a"] = "zone-1"
    Toy().get("a")
    del cloud["vm"]["a"]
    assert Toy().get("a") is None
    assert json.loads(toy_file(nbctl_home).read_text())["locations"] == {}


def test_the_file_holds_names_and_places_only(cloud, nbctl_home):
    cloud["vm"]["a"] = "zone-1"
    Toy().get("a")
    assert json.loads(toy_file(nbctl_home).read_text()) == {"locations": {"a": ["vm", "zone-1"]}}


@pytest.mark.parametrize("content", ["{not json", "", "[1, 2]", '"text"', "\x00\xff",
                                     '{"locations": [1]}', '{"locations": {"a": "vm"}}',
                                     '{"locations": {"a": ["vm"], "b": [1, 2]}}'])
def test_a_corrupt_file_costs_a_search_and_is_rewritten(cloud, nbctl_home, content):
    toy_file(nbctl_home).write_text(content)
    cloud["vm"]["a"] = "zone-1"
    toy = Toy()
    assert toy.get("a").zone == "zone-1" and toy.searches == 1
    assert json.loads(toy_file(nbctl_home).read_text())["locations"]["a"] == ["vm", "zone-1"]


def test_a_file_in_the_old_flat_layout_costs_a_search_and_is_replaced(cloud, nbctl_home):
    # before the core kept locations: {name: [backend, zone]} at the top level
    toy_file(nbctl_home).write_text(json.dumps({"a": ["notebook", "zone-9"],
                                                "locations": ["vm", "zone-3"]}))
    cloud["vm"]["a"] = "zone-1"
    toy = Toy()
    assert toy.get("a").zone == "zone-1" and toy.searches == 1
    assert json.loads(toy_file(nbctl_home).read_text()) == {"locations": {"a": ["vm", "zone-1"]}}


def test_other_sections_of_the_file_are_kept(nbctl_home):
    file = state_file("toy")
    file.put("launches", "a", "id-1")
    LocationCache(file).remember("a", Location("vm", "zone-1"))
    LocationCache(file).forget("a")
    assert json.loads(toy_file(nbctl_home).read_text()) == {"launches": {"a": "id-1"},
                                                            "locations": {}}
    assert [p.name for p in toy_file(nbctl_home).parent.iterdir()] == ["toy-locations.json"]


def test_places_lists_where_instances_were_found_by_backend(tmp_path):
    cache = LocationCache(StateFile(tmp_path / "x.json"))
    cache.remember("a", Location("vm", "zone-1"))
    cache.seen("b", Location("notebook", "zone-2"))  # from a listing: memory only
    cache.remember("c", Location("vm", "zone-1"))
    assert cache.places() == ["zone-1", "zone-2"]
    assert cache.places("notebook") == ["zone-2"]
    assert LocationCache(StateFile(tmp_path / "x.json")).places("notebook") == []


# -- the absent memory ----------------------------------------------------------------------
def test_a_search_that_found_nothing_is_trusted_until_it_expires(cloud, tmp_path):
    clock = Clock()
    toy = Toy()
    toy.locations = LocationCache(StateFile(tmp_path / "toy.json"), clock=clock)
    assert toy.get("a") is None and toy.searches == 1
    cloud["vm"]["a"] = "zone-1"  # made by someone else meanwhile
    clock.now += ABSENT_TTL - 0.5
    assert toy.get("a") is None and toy.searches == 1
    clock.now += 1.0
    assert toy.get("a").zone == "zone-1" and toy.searches == 2


def test_a_create_makes_the_absent_memory_unsure(cloud, tmp_path):
    toy = Toy()
    toy.locations = LocationCache(StateFile(tmp_path / "toy.json"), clock=Clock())
    assert toy.locate("a") is None
    cloud["vm"]["a"] = "zone-1"
    toy.locations.unsure("a")  # what a provider's create does, failed or not
    assert toy.locate("a") == Location("vm", "zone-1") and toy.searches == 2


def test_no_absent_memory_when_its_time_is_zero(cloud, tmp_path):
    toy = Toy()
    toy.locations = LocationCache(StateFile(tmp_path / "toy.json"), absent_ttl=0.0,
                                  clock=Clock())
    assert toy.locate("a") is None and toy.locate("a") is None
    assert toy.searches == 2


# -- the dispatch ---------------------------------------------------------------------------
def test_require_location_raises_not_found_with_the_providers_sentence():
    with pytest.raises(NotFound, match="no toy machine named 'gone'"):
        Toy().require_location("gone")


def test_backends_are_made_on_first_use_once_and_again_after_close():
    toy = Toy()
    assert toy.made == []
    assert toy.backend("vm") is toy.backend("vm") and toy.made == ["vm"]
    toy.close_backends()
    toy.backend("vm")
    assert toy.made == ["vm", "vm"]


def test_an_unknown_backend_is_refused_by_name():
    with pytest.raises(ValueError, match="'gpu-box'"):
        Toy().backend("gpu-box")
