import pytest
from nbctl_cloud.catalog import load_catalog
from nbctl_cloud.errors import UserError

CANONICAL = {"t4", "p4", "p100", "v100", "a10g", "l4", "a100", "a100-80gb", "h100",
             "p4000", "p5000", "p6000", "rtx4000", "a4000", "a5000", "a6000"}


def test_catalog_has_every_canonical_gpu():
    assert CANONICAL <= load_catalog().names


FREE = {"kaggle"}  # free within a quota: $0 is its list price


def test_every_offer_has_a_price_date_and_source():
    for o in load_catalog().all_offers:
        assert o.on_demand_hourly is not None, o
        assert o.on_demand_hourly > 0 or (o.provider in FREE and o.on_demand_hourly == 0), o
        assert len(o.price_date) == 10 and o.source.startswith("https://"), o


def test_offers_are_sorted_by_price():
    prices = [o.on_demand_hourly for o in load_catalog().offers(gpu="t4")]
    assert prices == sorted(prices)


def test_spot_offers_exclude_machines_without_spot():
    offers = load_catalog().offers(gpu="t4", spot=True)
    assert offers and all(o.spot_hourly is not None for o in offers)
    assert {o.backend for o in offers} == {"gce", "ec2"}


def test_cheapest_names_the_counts_that_exist():
    with pytest.raises(UserError, match=r"t4:N with N in 1, 2, 4"):
        load_catalog().cheapest("gcp", "t4", 3, False, backend="gce")


def test_cheapest_points_to_providers_that_have_the_gpu():
    with pytest.raises(UserError, match="paperspace"):
        load_catalog().cheapest("gcp", "a4000", 1, False)


def test_every_canonical_gpu_has_at_least_one_offer():
    cat = load_catalog()
    assert all(cat.offers(gpu=g) for g in CANONICAL)


def test_gpus_command_filters_and_sorts(nbctl):
    import json
    r = nbctl("gpus", "--gpu", "a4000", "--output", "json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert rows and {x["provider"] for x in rows} == {"paperspace"}
    assert [x["price"] for x in rows] == sorted(x["price"] for x in rows)


def test_gpus_command_rejects_unknown_gpu(nbctl):
    r = nbctl("gpus", "--gpu", "k80")
    assert r.returncode == 2 and "unknown GPU" in r.stderr and len(r.stderr.strip().splitlines()) == 1
