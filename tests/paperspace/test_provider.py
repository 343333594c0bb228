"""The Paperspace provider's verbs, through httpx against the fake API v1."""
import pytest
from nbctl_cloud.errors import (
    AuthError,
    CapabilityError,
    CapacityError,
    NotFound,
    Scope,
    UserError,
)
from nbctl_cloud.model import Capability, State

from tests.paperspace.conftest import wait_state


def test_create_returns_once_accepted_and_machine_becomes_running(paperspace, make_spec):
    inst = paperspace.create(make_spec())
    assert inst.state is State.PROVISIONING
    assert wait_state(paperspace, "ps1", State.RUNNING).native_id == inst.native_id


def test_create_sends_the_documented_fields(emu, paperspace, make_spec):
    paperspace.create(make_spec(idle_timeout=7200))
    (body,) = emu.bodies("POST", "/machines")
    # the region as Paperspace's docs send it; nbctl's --region ny2 names the same datacenter
    assert body["machineType"] == "A4000" and body["region"] == "East Coast (NY2)"
    assert body["templateId"] == "tmlinabox22"  # the newest ML-in-a-Box template
    assert body["autoShutdownEnabled"] is True and body["autoShutdownTimeout"] == 2
    assert body["startupScriptId"] in emu.scripts and body["startOnCreate"] is True


def test_startup_script_starts_jupyter_and_the_agent(emu, paperspace, make_spec):
    paperspace.create(make_spec(idle_timeout=2700))
    (script,) = emu.scripts.values()
    assert "jupyter" in script["_script"] and "nbctl_agent" in script["_script"]
    assert "--idle-timeout 2700" in script["_script"]
    assert script["name"].startswith("nbctl:tester:ps1:")


def test_second_create_returns_the_first_machine(emu, paperspace, make_spec):
    first = paperspace.create(make_spec())
    again = paperspace.create(make_spec())
    assert again.native_id == first.native_id and emu.count("POST", "/machines") == 1


def test_create_rerun_after_a_kill_between_request_and_wait_leaves_one_machine(emu, make_spec):
    from nbctl_cloud.providers.paperspace import PaperspaceProvider
    # The first process is "killed" after Paperspace accepted the machine, before it learned
    # the answer: a fresh provider (a new process, no cache) runs `up` again.
    first = PaperspaceProvider({}, owner="tester")
    first.create(make_spec())
    first.close()
    second = PaperspaceProvider({}, owner="tester")
    second.create(make_spec())
    second.close()
    assert len(emu.live_machines()) == 1 and emu.count("POST", "/machines") == 1


def test_create_after_a_lost_answer_finds_the_accepted_machine(emu, paperspace, make_spec):
    # The POST succeeded on the server but the answer was lost (a 502 from a proxy, say):
    # the retry looks for the marker before posting again.
    real = emu._post_machines

    def accept_then_fail(**kw):
        real(**kw)
        from tests.emulators.paperspace.server import ApiError
        raise ApiError(502, "INTERNAL_SERVER_ERROR", "Bad gateway")

    emu._post_machines = accept_then_fail
    inst = paperspace.create(make_spec())
    assert len(emu.live_machines()) == 1 and inst.native_id == emu.live_machines()[0]["id"]


def test_same_name_machine_without_marker_is_not_adopted(emu, paperspace, make_spec):
    import httpx
    httpx.post(f"{emu.url}/machines", headers={"Authorization": f"Bearer {emu.key}"},
               json={"name": "ps1", "machineType": "A4000", "templateId": "tubuntu2204",
                     "diskSize": 50, "region": "East Coast (NY2)"}).raise_for_status()
    assert paperspace.get("ps1") is None
    paperspace.create(make_spec())
    assert len(emu.live_machines()) == 2


def test_list_makes_two_listings_whatever_the_number_of_machines(emu, paperspace, make_spec):
    for n in ("a1", "a2", "a3"):
        paperspace.create(make_spec(n))
    for n in ("a1", "a2", "a3"):  # past provisioning, where a failed create is looked for
        wait_state(paperspace, n, State.RUNNING)
    before = len(emu.requests)
    found = paperspace.list({"nbctl-owner": "tester"})
    assert sorted(i.name for i in found) == ["a1", "a2", "a3"]
    assert len(emu.requests) - before == 2


def test_list_filters_by_labels(paperspace, make_spec):
    paperspace.create(make_spec("a1"))
    assert paperspace.list({"nbctl-owner": "someone-else"}) == []
    assert [i.labels["nbctl-name"] for i in paperspace.list({"nbctl-name": "a1"})] == ["a1"]


def test_list_follows_pages(emu, paperspace, make_spec):
    emu.page_size = 2
    for n in ("a1", "a2", "a3", "a4", "a5"):
        paperspace.create(make_spec(n))
    assert len(paperspace.list()) == 5


def test_get_of_unknown_name_is_none(paperspace):
    assert paperspace.get("nope") is None


def test_stop_then_start(paperspace, make_spec):
    paperspace.create(make_spec())
    wait_state(paperspace, "ps1", State.RUNNING)
    paperspace.stop("ps1")
    wait_state(paperspace, "ps1", State.STOPPED)
    paperspace.start("ps1")
    wait_state(paperspace, "ps1", State.RUNNING)


def test_stop_of_stopped_machine_sends_nothing(emu, paperspace, make_spec):
    paperspace.create(make_spec())
    wait_state(paperspace, "ps1", State.RUNNING)
    paperspace.stop("ps1")
    wait_state(paperspace, "ps1", State.STOPPED)
    paperspace.stop("ps1")
    assert emu.count("PATCH", "/machines/{id}/stop") == 1


def test_start_of_running_machine_sends_nothing(emu, paperspace, make_spec):
    paperspace.create(make_spec())
    wait_state(paperspace, "ps1", State.RUNNING)
    paperspace.start("ps1")
    assert emu.count("PATCH", "/machines/{id}/start") == 0


def test_paperspace_refuses_start_of_a_stopping_machine_so_start_is_tried_again(
        emu, paperspace, make_spec):
    paperspace.create(make_spec())
    wait_state(paperspace, "ps1", State.RUNNING)
    paperspace.stop("ps1")
    real = emu._patch_machines_id_start

    def refuse_then_finish_stopping(params, **kw):
        emu._patch_machines_id_start = real
        m = emu.machines[params["id"]]
        try:
            return real(params=params, **kw)  # refused: the machine is still stopping
        finally:
            m["_phases"] = [(0.0, "off")]  # ... and is off by the next look

    emu._patch_machines_id_start = refuse_then_finish_stopping
    paperspace.start("ps1")
    wait_state(paperspace, "ps1", State.RUNNING)
    assert emu.count("PATCH", "/machines/{id}/start") == 2


def test_start_refused_for_a_reason_other_than_a_moving_state_is_not_retried(
        emu, paperspace, make_spec):
    paperspace.create(make_spec())
    wait_state(paperspace, "ps1", State.RUNNING)
    paperspace.stop("ps1")
    wait_state(paperspace, "ps1", State.STOPPED)
    emu.inject("PATCH", "/machines/{id}/start", 400, "any words", times=5)
    with pytest.raises(UserError):
        paperspace.start("ps1")
    assert emu.count("PATCH", "/machines/{id}/start") == 1


def test_start_and_stop_send_no_body(emu, paperspace, make_spec):
    paperspace.create(make_spec())
    wait_state(paperspace, "ps1", State.RUNNING)
    paperspace.stop("ps1")
    assert emu.bodies("PATCH", "/machines/{id}/stop") == [None]


def test_stop_of_missing_machine_is_not_found(paperspace):
    with pytest.raises(NotFound):
        paperspace.stop("nope")


def test_delete_removes_machine_and_marker_script(emu, paperspace, make_spec):
    paperspace.create(make_spec())
    paperspace.delete("ps1")
    assert paperspace.get("ps1") is None and emu.scripts == {}


def test_delete_of_missing_machine_returns_silently(emu, paperspace):
    paperspace.delete("nope")
    assert emu.count("DELETE", "/machines/{id}") == 0


def test_delete_cleans_an_unassigned_marker_script_left_by_a_failed_create(emu, paperspace,
                                                                          make_spec):
    emu.inject("POST", "/machines", 400, "Invalid machine type")
    with pytest.raises(UserError):
        paperspace.create(make_spec())
    assert len(emu.scripts) == 1
    paperspace.delete("ps1")
    assert emu.scripts == {}


def test_unavailable_type_is_a_zone_capacity_error_and_creates_nothing(emu, paperspace, make_spec):
    emu.set_available("A4000", "ny2", False)
    with pytest.raises(CapacityError) as e:
        paperspace.create(make_spec(zones=("ny2",)))
    assert e.value.scope is Scope.ZONE
    assert emu.live_machines() == [] and emu.count("POST", "/machines") == 0


def test_preemptible_is_a_capability_error_that_suggests_gcp_or_aws(paperspace, make_spec):
    with pytest.raises(CapabilityError) as e:
        paperspace.create(make_spec(preemptible=True))
    assert "gcp" in e.value.message and "aws" in e.value.message


def test_require_spot_shows_the_provider_sentence(paperspace):
    with pytest.raises(CapabilityError, match="--provider gcp"):
        paperspace.require(Capability.SPOT)


def test_no_native_schedule_so_cron_falls_back_to_the_scheduler(paperspace):
    assert not paperspace.supports(Capability.NATIVE_SCHEDULE)
    assert paperspace.supports(Capability.NATIVE_IDLE_SHUTDOWN)


def test_missing_key_is_an_auth_error_naming_the_variable(emu, monkeypatch, make_spec):
    from nbctl_cloud.providers.paperspace import PaperspaceProvider
    monkeypatch.delenv("PAPERSPACE_API_KEY")
    with pytest.raises(AuthError, match="PAPERSPACE_API_KEY"):
        PaperspaceProvider({}, owner="tester").get("ps1")
    assert emu.requests == []


def test_key_from_config_file_is_used_when_env_has_none(emu, monkeypatch):
    from nbctl_cloud.providers.paperspace import PaperspaceProvider
    monkeypatch.delenv("PAPERSPACE_API_KEY")
    assert PaperspaceProvider({"api_key": emu.key}, owner="tester").get("ps1") is None


def test_wrong_key_is_an_auth_error_and_is_not_retried(emu, monkeypatch):
    from nbctl_cloud.providers.paperspace import PaperspaceProvider
    monkeypatch.setenv("PAPERSPACE_API_KEY", "wrong")
    with pytest.raises(AuthError, match="PAPERSPACE_API_KEY"):
        PaperspaceProvider({}, owner="tester").get("ps1")
    assert len(emu.requests) == 1


def test_idle_timeout_90m_is_2_hours_with_a_rounding_note(emu, paperspace, make_spec):
    inst = paperspace.create(make_spec(idle_timeout=5400))
    assert emu.bodies("POST", "/machines")[0]["autoShutdownTimeout"] == 2
    assert "whole hours" in inst.detail and "2h" in inst.detail
    assert paperspace.warnings and "90m" in paperspace.warnings[0]


def test_whole_hour_timeout_has_no_rounding_note(paperspace, make_spec):
    inst = paperspace.create(make_spec(idle_timeout=3600))
    assert "whole hours" not in (inst.detail or "") and paperspace.warnings == []


def test_get_reports_the_native_auto_shutdown(paperspace, make_spec):
    paperspace.create(make_spec(idle_timeout=5400))
    assert paperspace.get("ps1").detail == "Paperspace auto-shutdown after 2h idle"


def test_set_idle_shutdown_updates_the_machine(emu, paperspace, make_spec):
    paperspace.create(make_spec())
    paperspace.set_idle_shutdown("ps1", 1800)
    assert emu.bodies("PUT", "/machines/{id}") == [{"autoShutdownEnabled": True,
                                                    "autoShutdownTimeout": 1}]


def test_notebook_is_reached_by_ssh_to_the_public_ip(emu, paperspace, make_spec):
    from nbctl_cloud.tunnel import SshRoute
    paperspace.create(make_spec())
    inst = wait_state(paperspace, "ps1", State.RUNNING)
    route = paperspace.notebook_url("ps1")
    assert isinstance(route, SshRoute) and inst.url is None
    assert route.host == emu.machines[inst.native_id]["publicIp"]
    assert (route.user, route.remote_port) == ("nbctl-admin", 8888)


def test_startup_script_lets_in_only_the_machine_key(emu, paperspace, make_spec):
    paperspace.create(make_spec())
    wait_state(paperspace, "ps1", State.RUNNING)
    route = paperspace.notebook_url("ps1")
    public = route.key_path.with_suffix(".pub").read_text().strip()
    assert public in next(iter(emu.scripts.values()))["_script"]
    assert route.key_path.stat().st_mode & 0o077 == 0


def test_disk_size_outside_documented_sizes_is_a_user_error(paperspace, make_spec):
    with pytest.raises(UserError, match="250"):
        paperspace.validate_spec(make_spec(disk_gb=120))


def test_gpu_not_run_in_the_chosen_region_is_refused_before_any_request(emu, paperspace,
                                                                        make_spec):
    # A6000 runs in NY2 and CA1 only (Paperspace's machine availability page).
    with pytest.raises(UserError, match="ny2, ca1"):
        paperspace.create(make_spec(gpu="a6000", region="ams1"))
    assert emu.requests == []


def test_invalid_disk_gb_in_config_is_a_user_error_naming_the_sizes(emu):
    from nbctl_cloud.providers.paperspace import PaperspaceProvider
    with pytest.raises(UserError, match="disk_gb 120 .*250"):
        PaperspaceProvider({"disk_gb": 120}, owner="tester")


def test_unknown_region_is_a_user_error(paperspace, make_spec):
    with pytest.raises(UserError, match="ny2"):
        paperspace.validate_spec(make_spec(region="us-east-1"))


def test_candidate_zones_start_with_configured_region_then_other_offered(paperspace, make_spec):
    assert paperspace.candidate_zones(make_spec()) == ["ny2", "ca1", "ams1"]
    assert paperspace.candidate_zones(make_spec(gpu="h100")) == ["ny2"]


def test_configured_template_id_is_used_without_listing_templates(emu, make_spec):
    from nbctl_cloud.providers.paperspace import PaperspaceProvider
    p = PaperspaceProvider({"template_id": "tubuntu2204"}, owner="tester")
    p.create(make_spec())
    assert emu.bodies("POST", "/machines")[0]["templateId"] == "tubuntu2204"
    assert emu.count("GET", "/os-templates") == 0


def test_instance_reports_gpu_region_and_labels(paperspace, make_spec):
    inst = paperspace.create(make_spec(gpu="a4000", gpu_count=2, region="ca1"))
    assert (inst.gpu, inst.gpu_count, inst.zone, inst.backend) == ("a4000", 2, "ca1", "machines")
    assert inst.labels["nbctl-owner"] == "tester"


def test_image_names_the_os_template(emu, paperspace, make_spec):
    paperspace.create(make_spec(image="tmlinabox20"))
    assert emu.bodies("POST", "/machines")[0]["templateId"] == "tmlinabox20"
