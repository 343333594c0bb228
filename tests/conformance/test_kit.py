"""The conformance kit fails providers that break the contract: each breach below, made in a
copy of the example plugin's provider, fails the kit's test that states that rule (run in a
pytest subprocess, as a plugin author would run it)."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET

import pytest

BREACHES = textwrap.dedent('''
    import pytest
    from nbctl_cloud.errors import CapacityError
    from nbctl_cloud.model import Capability, InstanceSpec
    from nbctl_cloud.testing.conformance import ProviderConformance
    from nbctl_example_provider import ExampleProvider


    class Kit(ProviderConformance):
        broken = ExampleProvider

        @pytest.fixture
        def provider(self, tmp_path):
            return self.broken({"path": str(tmp_path / "cloud.json")}, owner="tester")

        @pytest.fixture
        def make_spec(self, provider):
            return lambda name: InstanceSpec(name=name, provider="example", owner="tester")

        @pytest.fixture
        def refuse_create(self, provider):
            def refuse(spec):
                provider.cloud.refuse(spec.name, "NO_CAPACITY")
                return CapacityError
            return refuse


    class NoReason(ExampleProvider):
        reasons = {c: r for c, r in ExampleProvider.reasons.items() if c is not Capability.JOBS}


    class Unsorted(ExampleProvider):
        def offers(self, gpu=None, count=None, spot=False):
            return super().offers(gpu, count, spot)[::-1]


    class LoudDelete(ExampleProvider):
        def delete(self, name):
            if self.get(name) is None:
                raise KeyError(name)
            super().delete(name)


    class CreateOnce(ExampleProvider):
        def create(self, spec):
            if self.get(spec.name) is not None:
                raise RuntimeError("exists")
            return super().create(spec)


    class DropsLabels(ExampleProvider):
        def create(self, spec):
            from dataclasses import replace
            return super().create(replace(spec, labels={}))


    class ListIgnoresLabels(ExampleProvider):
        def list(self, labels=None):
            return super().list()


    class LeavesHalfMade(ExampleProvider):
        def create(self, spec):
            self.cloud.create(spec.name + "-disk", {"type": "disk", "gpu": "none",
                                                    "gpu_count": 0, "labels": spec.labels})
            return super().create(spec)  # refused: the disk stays behind


    class NeverBoots(ExampleProvider):
        def get(self, name):
            inst = super().get(name)
            return None if inst is None else type(inst)(name, self.name, inst.state.FAILED)
''')
for name in ("NoReason", "Unsorted", "LoudDelete", "CreateOnce", "DropsLabels",
             "ListIgnoresLabels", "LeavesHalfMade", "NeverBoots"):
    BREACHES += f"\n\nclass Test{name}(Kit):\n    broken = {name}\n"

# breach -> the kit's test that must fail it
CAUGHT = {
    "NoReason": "test_each_capability_it_lacks_has_a_sentence_for_the_user",
    "Unsorted": "test_offers_are_well_formed_cheapest_first_and_offline",
    "LoudDelete": "test_delete_of_a_missing_name_returns_quietly",
    "CreateOnce": "test_create_of_an_existing_name_returns_it",
    "DropsLabels": "test_another_nbctl_adopts_it_through_list_and_refresh",
    "ListIgnoresLabels": "test_create_puts_nbctl_labels_where_get_and_list_read_them",
    "LeavesHalfMade": "test_up_of_a_refused_spec_raises_the_mapped_error_and_leaves_nothing",
    "NeverBoots": "test_up_reaches_running_and_down_leaves_nothing",
}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    """{(class, test): "passed" | "failed" | "error" | "skipped"} of one run over every breach."""
    pytest.importorskip("nbctl_example_provider",
                        reason="pip install -e scripts/examples/provider-plugin (see README.md)")
    root = tmp_path_factory.mktemp("kit")
    (root / "test_breaches.py").write_text(BREACHES)
    ids = [f"test_breaches.py::Test{b}::{t}" for b, t in CAUGHT.items()]
    ids += [f"test_breaches.py::TestNoReason::{t}" for t in CAUGHT.values()
            if t != CAUGHT["NoReason"]]  # a control: the other rules hold there
    report = root / "report.xml"
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          f"--junitxml={report}", "--rootdir", str(root), *ids],
                         cwd=root, capture_output=True, text=True,
                         env={**{k: v for k, v in os.environ.items()
                                 if not k.startswith("PYTEST_")},
                              "NBCTL_HOME": str(root / "home")})
    assert report.exists(), run.stdout + run.stderr
    found = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        found[(case.get("classname").rsplit(".", 1)[-1], case.get("name"))] = \
            {"failure": "failed", "error": "error", "skipped": "skipped"}.get(
                kinds[0] if kinds else "", "passed")
    return found


@pytest.mark.parametrize("breach", sorted(CAUGHT))
def test_the_kit_fails_a_provider_that_breaks_the_rule(outcomes, breach):
    assert outcomes[(f"Test{breach}", CAUGHT[breach])] == "failed"


@pytest.mark.parametrize("test", sorted(set(CAUGHT.values()) - {CAUGHT["NoReason"]}))
def test_the_same_tests_pass_a_provider_that_keeps_it(outcomes, test):
    assert outcomes[("TestNoReason", test)] == "passed"
