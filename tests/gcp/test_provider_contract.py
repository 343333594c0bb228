"""What the GCP provider promises without touching the network or loading its SDK."""
from __future__ import annotations

import subprocess
import sys

import pytest
from nbctl_cloud.errors import UserError
from nbctl_cloud.model import Capability, InstanceSpec
from nbctl_cloud.providers.gcp import GcpProvider

from tests.conftest import startup_modules
from tests.gcp.helpers import notebook, spot

SDK_ROOTS = ("google", "grpc", "boto3", "botocore", "httpx")


def test_importing_the_provider_loads_no_cloud_sdk():
    code = ("import sys, nbctl_cloud.providers.gcp\n"
            "from nbctl_cloud.registry import provider_class\n"
            "cls = provider_class('gcp'); cls({}, 'x').offers('t4', 1, True)\n"
            "print('\\n'.join(sys.modules))")
    mods = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.split()
    assert [m for m in set(mods) - startup_modules() if m.split(".")[0] in SDK_ROOTS] == []


def test_capabilities_cover_spot_stop_start_idle_schedule_preemption_url_and_jobs():
    assert GcpProvider.capabilities == set(Capability)


def test_workbench_specs_say_what_their_backend_cannot_do_and_spot_vms_lack_nothing():
    workbench = InstanceSpec(name="nb", provider="gcp", gpu="t4", gpu_count=1)
    lacks = GcpProvider({}).unsupported(workbench)
    assert set(lacks) == {Capability.NATIVE_SCHEDULE, Capability.JOBS}
    assert all(lacks.values())
    spot = InstanceSpec(name="sp", provider="gcp", gpu="t4", gpu_count=1, preemptible=True)
    assert GcpProvider({}).unsupported(spot) == {}


@pytest.mark.parametrize("name", ["nb1", "a", "my-notebook-2", "x" * 63])
def test_valid_names(name):
    GcpProvider({}).validate_name(name)


@pytest.mark.parametrize("name", ["1nb", "Nb", "nb_1", "nb-", "x" * 64, ""])
def test_invalid_names_are_user_errors(name):
    with pytest.raises(UserError):
        GcpProvider({}).validate_name(name)


def test_candidate_zones_prefer_the_zone_list():
    assert GcpProvider({}).candidate_zones(spot(zones=("us-east1-c", "us-east1-d"))) == [
        "us-east1-c", "us-east1-d"]


def test_candidate_zones_of_a_region_are_its_gpu_zones():
    spec = spot(zones=(), region="europe-west4")
    assert GcpProvider({}).candidate_zones(spec) == ["europe-west4-a", "europe-west4-b", "europe-west4-c"]


def test_candidate_zones_default_to_the_configured_zone():
    assert GcpProvider({"zone": "us-west1-b"}).candidate_zones(spot(zones=())) == ["us-west1-b"]


def test_region_of_a_zone():
    assert GcpProvider({}).region_of("us-central1-f") == "us-central1"


def test_spot_offers_are_compute_engine_and_on_demand_offers_are_workbench():
    p = GcpProvider({})
    assert {o.backend for o in p.offers("t4", 1, spot=True)} == {"gce"}
    assert {o.backend for o in p.offers("t4", 1, spot=False)} == {"workbench"}


def test_a_gpu_count_the_catalog_lacks_is_a_user_error():
    with pytest.raises(UserError, match="t4:N"):
        GcpProvider({}).validate_spec(notebook(gpu_count=3))


def test_zones_outside_the_region_are_a_user_error():
    with pytest.raises(UserError):
        GcpProvider({}).validate_spec(spot(zones=("us-east1-c",), region="us-central1"))


def test_project_comes_from_config_then_environment(monkeypatch):
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "from-env")
    assert GcpProvider({"project": "from-config"}).settings.project == "from-config"
    assert GcpProvider({}).settings.project == "from-env"


def test_no_project_anywhere_is_a_user_error_naming_the_setting(monkeypatch):
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    monkeypatch.delenv("CLOUDSDK_CORE_PROJECT", raising=False)
    with pytest.raises(UserError, match="GOOGLE_CLOUD_PROJECT"):
        GcpProvider({}).settings.require_project()
