"""The provider contract, stated once as tests that every provider runs against its own fake.

Subclass `ProviderConformance` in your provider's test suite and give it two fixtures (as
methods of the subclass, or in your module or conftest.py):

    import pytest
    from nbctl_cloud.errors import CapacityError
    from nbctl_cloud.model import InstanceSpec
    from nbctl_cloud.testing.conformance import ProviderConformance

    class TestMyCloud(ProviderConformance):
        @pytest.fixture
        def provider(self, my_fake):
            # your provider, configured to talk to your fake or emulator
            p = MyCloudProvider({"endpoint": my_fake.url}, owner="tester")
            yield p
            p.close()

        @pytest.fixture
        def make_spec(self, provider):
            # name -> a spec your provider accepts (its GPU, zone ...), owner = provider.owner
            return lambda name: InstanceSpec(name=name, provider="mycloud", gpu="t4",
                                             gpu_count=1, owner=provider.owner)

        @pytest.fixture
        def refuse_create(self, my_fake):
            # optional: make your fake refuse every create of this spec in a way your fault
            # table maps, and return the nbctl error class that creating must then raise
            def refuse(spec):
                my_fake.fail_creates(spec.name, "NO_CAPACITY")
                return CapacityError
            return refuse

Tests of a capability the provider lacks (its class, or the spec's backend through
`unsupported(spec)`) skip with that reason; without `refuse_create` the error-mapping tests
skip. Each test deletes what it made. The lifecycle runs through nbctl's core (lifecycle.up,
stop, start, down; fleet.refresh) with a real Store on a temporary SQLite file; the core polls `get`
every `poll_interval` seconds (NBCTL_POLL_INTERVAL) and fails loudly on its own timeout, so the
kit has no sleeps and no time limits of its own.
"""
from __future__ import annotations

import socket
from contextlib import contextmanager
from typing import Callable, ClassVar

import pytest

from .. import fleet, lifecycle
from ..catalog import load_catalog
from ..errors import CapabilityError, NbctlError
from ..model import (
    LABEL_NAME,
    LABEL_OWNER,
    LABEL_SPEC_HASH,
    Capability,
    Instance,
    InstanceSpec,
    State,
)
from ..provider import Provider, contract_problems
from ..store import Store
from ..tunnel import SshRoute

__all__ = ["ProviderConformance", "as_the_core_sends"]


def as_the_core_sends(provider: Provider, spec: InstanceSpec) -> InstanceSpec:
    """The spec `create` receives from `up`: placed in its first candidate zone, stamped with
    nbctl's labels."""
    zone = provider.candidate_zones(spec)[0]
    return (spec.with_zone(zone) if zone else spec).stamped()


def _gone(provider: Provider, name: str) -> bool:
    inst = provider.get(name)
    return inst is None or inst.state is State.DELETED


def _named(provider: Provider, name: str) -> list[Instance]:
    return [i for i in provider.list({LABEL_NAME: name}) if i.state is not State.DELETED]


def _need(provider: Provider, spec: InstanceSpec, cap: Capability) -> None:
    """Skip, with the provider's own sentence, unless machines of `spec` have `cap`."""
    if cap not in provider.capabilities:
        pytest.skip(f"{provider.name} has no {cap.value} capability: "
                    f"{provider.reasons.get(cap, 'no reason given')}")
    why = provider.unsupported(spec).get(cap)
    if why:
        pytest.skip(f"{provider.name} machines of this spec lack {cap.value}: {why}")


def _lacks(provider: Provider, cap: Capability) -> str:
    """The provider's sentence for a capability its class lacks; skip where it has it."""
    if cap in provider.capabilities:
        pytest.skip(f"{provider.name} has the {cap.value} capability: nothing to refuse")
    return provider.reasons.get(cap, "")


class _NetworkUsed(Exception):
    pass


@contextmanager
def _no_network(monkeypatch: pytest.MonkeyPatch):
    """Any connection or name lookup inside is recorded and refused."""
    attempts: list[str] = []

    def refuse(what: str):
        def refused(*args, **kwargs):
            attempts.append(f"{what}{args[1:] if what.startswith('socket.') else args}")
            raise _NetworkUsed(f"{what} while offline")
        return refused

    with monkeypatch.context() as m:
        m.setattr(socket.socket, "connect", refuse("socket.connect"))
        m.setattr(socket.socket, "connect_ex", refuse("socket.connect_ex"))
        m.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))
        m.setattr(socket, "create_connection", refuse("create_connection"))
        yield attempts
    assert attempts == [], f"reached for the network: {attempts}"


class ProviderConformance:
    """The contract of nbctl_cloud.provider.Provider as tests. Needs the fixtures `provider`
    and `make_spec`; `refuse_create` is optional (see the module's docstring)."""

    # Seconds between `get` calls while the core waits (NBCTL_POLL_INTERVAL).
    poll_interval: ClassVar[float] = 0.05
    # Instance names the tests use; each must be valid for the provider.
    instance_names: ClassVar[tuple[str, str]] = ("conform-1", "conform-2")

    # -- the kit's own fixtures ------------------------------------------------------------
    @pytest.fixture(autouse=True)
    def _conformance_polls(self, monkeypatch):
        monkeypatch.setenv("NBCTL_POLL_INTERVAL", str(self.poll_interval))

    @pytest.fixture
    def conformance_store(self, tmp_path):
        store = Store(f"sqlite:///{tmp_path / 'conformance-state.db'}")
        yield store
        store.engine.dispose()

    @pytest.fixture
    def new_spec(self, provider, make_spec, conformance_store) -> Callable[[], InstanceSpec]:
        """A valid spec under the next free test name; what it names is deleted afterwards."""
        made: list[str] = []

        def new() -> InstanceSpec:
            spec = make_spec(self.instance_names[len(made)])
            made.append(spec.name)
            return spec

        yield new
        for name in made:  # through the core: delete, wait until gone, forget
            lifecycle.down(provider, name, store=conformance_store)

    # -- the class -------------------------------------------------------------------------
    def test_the_class_keeps_the_contract(self, provider):
        assert contract_problems(type(provider)) == []
        assert provider.name == type(provider).name

    def test_each_capability_it_lacks_has_a_sentence_for_the_user(self, provider):
        for cap in Capability:
            if cap in provider.capabilities:
                continue
            why = provider.reasons.get(cap)
            assert isinstance(why, str) and why.strip(), \
                f"{type(provider).__name__}.reasons has no sentence for {cap.value}"
            with pytest.raises(CapabilityError) as refused:
                provider.require(cap)
            assert refused.value.message == why

    def test_what_a_spec_cannot_do_is_said_in_the_users_words(self, provider, make_spec):
        spec = make_spec(self.instance_names[0])
        for cap, why in provider.unsupported(spec).items():
            assert cap in provider.capabilities, \
                f"unsupported() names {cap.value}, which the class lacks: say so in `reasons`"
            assert isinstance(why, str) and why.strip()
            with pytest.raises(CapabilityError) as refused:
                provider.require(cap, spec)
            assert refused.value.message == why

    def test_the_spec_is_valid_and_checked_offline(self, provider, make_spec, monkeypatch):
        spec = make_spec(self.instance_names[0])
        assert spec.provider == provider.name and spec.owner == provider.owner
        with _no_network(monkeypatch):
            provider.validate_name(spec.name)
            provider.validate_spec(spec)
            offered = provider.offers(spec.gpu, spec.gpu_count, spec.preemptible) \
                if spec.gpu_count else []
        if spec.gpu_count:
            assert offered, f"{provider.name} offers no {spec.gpu}:{spec.gpu_count}"
        else:
            assert not provider.needs_gpu, "a provider that needs a GPU needs specs with one"

    # -- offers --------------------------------------------------------------------------
    def test_offers_are_well_formed_cheapest_first_and_offline(self, provider, monkeypatch):
        gpus = load_catalog().names
        for spot in (False, True):
            with _no_network(monkeypatch):
                offers = provider.offers(spot=spot)
            if spot and Capability.SPOT not in provider.capabilities:
                assert offers == [], "a provider without spot machines offers none as spot"
            for o in offers:
                assert o.provider == provider.name
                assert o.gpu in gpus, f"{o.gpu!r} is not one of nbctl's GPU names ({sorted(gpus)})"
                assert isinstance(o.count, int) and o.count >= 1
                assert isinstance(o.instance_type, str) and o.instance_type
                assert isinstance(o.gpu_memory_gb, int) and o.gpu_memory_gb >= 0
                for price in (o.on_demand_hourly, o.spot_hourly):
                    assert price is None or price >= 0
                if spot:
                    assert o.spot_hourly is not None, "spot offers are priced as spot"
                assert o.price_date and o.source, "each price says when and where it was read"
                assert all(isinstance(r, str) and r for r in o.regions)
            prices = [(o.hourly(spot) is None, o.hourly(spot) or 0.0) for o in offers]
            assert prices == sorted(prices), "offers come cheapest first"

    def test_offers_for_a_gpu_and_count_are_only_those(self, provider, make_spec):
        spec = make_spec(self.instance_names[0])
        pairs = {(o.gpu, o.count) for o in provider.offers()}
        if spec.gpu_count:
            pairs.add((spec.gpu, spec.gpu_count))
        if not pairs:
            pytest.skip(f"{provider.name} lists no offers and the spec asks for no GPU")
        for gpu, count in sorted(pairs):
            by_gpu = provider.offers(gpu)
            assert by_gpu and {o.gpu for o in by_gpu} == {gpu}
            exact = provider.offers(gpu, count)
            assert exact and {(o.gpu, o.count) for o in exact} == {(gpu, count)}

    # -- the lifecycle through the core --------------------------------------------------
    def test_up_reaches_running_and_down_leaves_nothing(self, provider, new_spec,
                                                        conformance_store):
        spec = new_spec()
        inst, created = lifecycle.up(provider, spec, store=conformance_store)
        assert created
        assert (inst.name, inst.provider, inst.state) == (spec.name, provider.name, State.RUNNING)
        assert conformance_store.get(spec.name).instance.state is State.RUNNING
        lifecycle.down(provider, spec.name, store=conformance_store)
        assert _gone(provider, spec.name)
        assert _named(provider, spec.name) == []
        assert conformance_store.get(spec.name) is None

    def test_stop_and_start_through_the_core(self, provider, new_spec, conformance_store):
        spec = new_spec()
        _need(provider, spec, Capability.STOP_START)
        lifecycle.up(provider, spec, store=conformance_store)
        stopped = lifecycle.stop(provider, spec.name, store=conformance_store)
        assert stopped.state is State.STOPPED
        assert conformance_store.get(spec.name).instance.state is State.STOPPED
        started = lifecycle.start(provider, spec.name, store=conformance_store)
        assert started.state is State.RUNNING
        assert conformance_store.get(spec.name).instance.state is State.RUNNING

    def test_stop_is_refused_in_the_providers_words_where_it_cannot(self, provider, make_spec,
                                                                    conformance_store):
        why = _lacks(provider, Capability.STOP_START)
        with pytest.raises(CapabilityError) as refused:
            lifecycle.stop(provider, make_spec(self.instance_names[0]).name,
                           store=conformance_store)
        assert refused.value.message == why

    def test_up_twice_makes_one_instance(self, provider, new_spec, conformance_store):
        spec = new_spec()
        _, created = lifecycle.up(provider, spec, store=conformance_store)
        again, created_again = lifecycle.up(provider, spec, store=conformance_store)
        assert (created, created_again) == (True, False)
        assert again.state is State.RUNNING
        assert len(_named(provider, spec.name)) == 1

    # -- the core verbs, one by one ------------------------------------------------------
    def test_get_of_a_missing_name_is_none(self, provider, make_spec):
        assert provider.get(make_spec(self.instance_names[1]).name) is None

    def test_delete_of_a_missing_name_returns_quietly(self, provider, make_spec):
        name = make_spec(self.instance_names[1]).name
        assert provider.delete(name) is None
        assert provider.get(name) is None

    def test_create_of_an_existing_name_returns_it(self, provider, new_spec, conformance_store):
        spec = as_the_core_sends(provider, new_spec())
        first = provider.create(spec)
        second = provider.create(spec)
        assert isinstance(first, Instance) and isinstance(second, Instance)
        assert first.name == second.name == spec.name
        assert len(_named(provider, spec.name)) == 1
        lifecycle.wait_for(provider, conformance_store, spec.name, {State.RUNNING})

    def test_create_puts_nbctl_labels_where_get_and_list_read_them(self, provider, new_spec,
                                                                   conformance_store):
        spec = as_the_core_sends(provider, new_spec())
        provider.create(spec)
        inst = provider.get(spec.name)
        assert inst is not None and inst.labels.items() >= spec.labels.items()
        mine = {i.name: i for i in provider.list({LABEL_OWNER: spec.owner})}
        assert spec.name in mine and mine[spec.name].labels.items() >= spec.labels.items()
        exact = {LABEL_NAME: spec.name, LABEL_SPEC_HASH: spec.spec_hash()}
        assert [i.name for i in provider.list(exact)] == [spec.name]
        others = provider.list({LABEL_OWNER: f"not-{spec.owner}"})
        assert spec.name not in [i.name for i in others]
        lifecycle.wait_for(provider, conformance_store, spec.name, {State.RUNNING})

    def test_another_nbctl_adopts_it_through_list_and_refresh(self, provider, new_spec,
                                                             conformance_store, tmp_path):
        spec = new_spec()
        lifecycle.up(provider, spec, store=conformance_store)
        other = type(provider)(provider.config, owner=provider.owner)
        fresh = Store(f"sqlite:///{tmp_path / 'another-laptop.db'}")
        try:
            fleet.refresh(fresh, {provider.name: other}, spec.owner)
            rec = fresh.get(spec.name)
        finally:
            other.close()
            fresh.engine.dispose()
        assert rec is not None, "refresh found nothing: does list() read nbctl's labels?"
        assert (rec.instance.provider, rec.instance.state) == (provider.name, State.RUNNING)
        assert rec.instance.labels.items() >= spec.nbctl_labels().items()

    # -- notebook URLs ---------------------------------------------------------------------
    def test_notebook_url_only_while_running(self, provider, new_spec, conformance_store):
        spec = new_spec()
        _need(provider, spec, Capability.NOTEBOOK_URL)
        inst, _ = lifecycle.up(provider, spec, store=conformance_store)
        url = lifecycle.notebook_url(provider, spec.name)
        assert isinstance(url, SshRoute) or (isinstance(url, str) and url.strip())
        kept = conformance_store.get(spec.name).instance.url or ""
        assert "token=" not in kept.lower(), "Instance.url is stored: it carries no token"
        if not provider.supports(Capability.STOP_START, spec):
            return
        lifecycle.stop(provider, spec.name, store=conformance_store)
        with pytest.raises(NbctlError) as refused:
            lifecycle.notebook_url(provider, spec.name)
        assert not isinstance(refused.value, CapabilityError)
        assert "STOPPED" in refused.value.message

    def test_open_is_refused_in_the_providers_words_where_it_cannot(self, provider, make_spec):
        why = _lacks(provider, Capability.NOTEBOOK_URL)
        with pytest.raises(CapabilityError) as refused:
            lifecycle.notebook_url(provider, make_spec(self.instance_names[0]).name)
        assert refused.value.message == why

    # -- error mapping ---------------------------------------------------------------------
    @pytest.fixture
    def _refuse(self, request) -> Callable[[InstanceSpec], type[NbctlError]]:
        try:
            refuse = request.getfixturevalue("refuse_create")
        except pytest.FixtureLookupError as e:
            if e.argname != "refuse_create":
                raise
            pytest.skip("no refuse_create fixture: define one that makes the fake refuse a "
                        "create the way the provider's fault table maps")
        return refuse

    def _refused(self, refuse, spec: InstanceSpec) -> type[NbctlError]:
        expected = refuse(spec)
        assert isinstance(expected, type) and issubclass(expected, NbctlError), \
            "refuse_create returns the nbctl error class the refusal maps to"
        return expected

    def test_a_refused_create_raises_the_mapped_error_and_leaves_nothing(
            self, provider, new_spec, _refuse):
        spec = new_spec()
        expected = self._refused(_refuse, spec)
        with pytest.raises(expected):
            provider.create(as_the_core_sends(provider, spec))
        assert _gone(provider, spec.name) and _named(provider, spec.name) == []

    def test_up_of_a_refused_spec_raises_the_mapped_error_and_leaves_nothing(
            self, provider, new_spec, conformance_store, _refuse):
        spec = new_spec()
        expected = self._refused(_refuse, spec)
        with pytest.raises(expected):
            lifecycle.up(provider, spec, store=conformance_store)
        assert _gone(provider, spec.name) and _named(provider, spec.name) == []
        assert conformance_store.get(spec.name) is None
