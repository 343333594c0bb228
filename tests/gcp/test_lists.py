"""aggregatedList as Compute Engine answers it (compute.v1.json): pages of at most maxResults
(default and cap 500) chained by nextPageToken, every zone listed as a scope with the
NO_RESULTS_ON_PAGE warning when it has nothing on the page, and filters whose `eq`/`ne` take a
regular expression matching the whole field and whose `:` means "has"."""
from __future__ import annotations

import pytest
from google.api_core import exceptions as gexc
from google.cloud import compute_v1

PROJECT = "test-project"


def fleet(emu, n, zone="us-central1-a", **labels):
    for i in range(n):
        emu.add_instance(f"vm{i:04d}", zone, labels={"nbctl-name": f"vm{i:04d}",
                                                     "nbctl-owner": "tester", **labels})


def first_page(gcp, **kw):
    req = compute_v1.AggregatedListInstancesRequest(project=PROJECT, **kw)
    return next(iter(gcp.gce.c.instances.aggregated_list(request=req).pages))


def names(page):
    return sorted(vm.name for scoped in page.items.values() for vm in scoped.instances)


def test_nbctl_follows_aggregated_list_pages_over_a_fleet_larger_than_one_page(gcp, emu):
    fleet(emu, 501)
    fleet_names = {i.name for i in gcp.list()}
    assert len(fleet_names) == 501
    assert emu.counts["compute.instances.aggregatedList"] == 2


def test_aggregated_list_pages_by_max_results_and_caps_it_at_500(gcp, emu):
    fleet(emu, 25)
    page = first_page(gcp, max_results=10)
    assert len(names(page)) == 10 and page.next_page_token
    with pytest.raises(gexc.BadRequest):
        first_page(gcp, max_results=501)


def test_aggregated_list_lists_empty_zones_with_the_no_results_warning(gcp, emu):
    fleet(emu, 1, zone="us-central1-b")
    page = first_page(gcp)
    empty = page.items["zones/us-central1-a"]
    assert not empty.instances
    assert empty.warning.code == "NO_RESULTS_ON_PAGE"
    assert empty.warning.message == "There are no results for scope 'zones/us-central1-a' on this page."
    assert names(page) == ["vm0000"]


def test_eq_in_a_filter_is_a_regular_expression_over_the_whole_field(gcp, emu):
    fleet(emu, 12)
    assert names(first_page(gcp, filter="name eq vm000[0-4]")) == [f"vm000{i}" for i in range(5)]
    assert names(first_page(gcp, filter="name eq vm00")) == []  # the whole field must match
    assert len(names(first_page(gcp, filter="name ne .*1"))) == 10


def test_colon_in_a_filter_means_has_not_equals(gcp, emu):
    fleet(emu, 2)
    emu.add_instance("other", "us-central1-a", labels={"team": "ml"})
    assert names(first_page(gcp, filter="labels.nbctl-owner:*")) == ["vm0000", "vm0001"]
    assert names(first_page(gcp, filter='name : "vm000"')) == ["vm0000", "vm0001"]
    assert names(first_page(gcp, filter='name = "vm000"')) == []


def test_a_throttled_second_page_is_retried_like_the_first(gcp, emu):
    fleet(emu, 501)
    emu.inject("instances.aggregatedList", "rate-limit", skip=1)  # the second page's request
    assert len(gcp.list()) == 501
    assert emu.counts["compute.instances.aggregatedList"] == 3  # 2 pages + 1 retry


@pytest.mark.parametrize("method, fault, error, says", [
    ("instances.aggregatedList", "forbidden", "AuthError",
     "list VMs: GCP refused the request (Required 'compute.instances.list' permission"),
    ("instances.list", "forbidden", "AuthError", "the permission notebooks.instances.list"),
    ("instances.aggregatedList", "unauthenticated", "AuthError",
     "GCP credentials were rejected"),
])
def test_the_listing_reads_googles_error_answers_like_the_sdk(gcp, emu, method, fault, error,
                                                               says):
    """The fleet listing reads the REST answers itself: a refusal still says what to do."""
    from nbctl_cloud import errors
    emu.inject(method, fault)
    with pytest.raises(getattr(errors, error)) as info:
        gcp.list({"nbctl-owner": "tester"})
    assert says in str(info.value)


def test_the_listing_retries_a_throttled_workbench_list(gcp, emu):
    emu.inject("instances.list", "rate-limit")  # notebooks v2: 429 RESOURCE_EXHAUSTED
    assert gcp.list({"nbctl-owner": "tester"}) == []
    assert emu.counts["notebooks.projects.locations.instances.list"] >= 2


def test_the_fleet_listing_loads_neither_sdk(emu):
    """What the listing reads as JSON must not cost the SDKs' import (seconds on 2 cores)."""
    import os
    import subprocess
    import sys

    fleet(emu, 3)
    code = ("import sys\nfrom nbctl_cloud.providers.gcp import GcpProvider\n"
            "found = GcpProvider({'region': 'us-central1'}, owner='tester').list("
            "{'nbctl-owner': 'tester'})\n"
            "print(len(found), sorted(m for m in sys.modules if m.startswith("
            "('google.cloud.compute', 'google.cloud.notebooks', 'proto'))))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=dict(os.environ), check=True).stdout
    assert out.split(None, 1) == ["3", "[]\n"]
