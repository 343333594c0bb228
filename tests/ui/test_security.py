"""`nbctl ui`'s doors: the token on every request, XSRF on every action, the Host header."""
from __future__ import annotations

import re

import httpx
import pytest

from tests.ui.conftest import Dashboard

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    """One dashboard over an empty store of its own: these tests only knock on its doors."""
    d = Dashboard(home=str(tmp_path_factory.mktemp("nbctl-home")))
    yield d
    d.stop()


def xsrf_of(dashboard) -> str:
    page = httpx.get(f"{dashboard.base}/machines",
                     headers={"Authorization": f"token {dashboard.token}"}).text
    return re.search(r'name="_xsrf" value="([0-9a-f]+)"', page).group(1)


def test_a_request_without_the_token_gets_403(dashboard):
    for path in ("/machines", "/jobs", "/money", "/static/app.js", "/?token=wrong"):
        assert httpx.get(f"{dashboard.base}{path}").status_code == 403, path
    r = httpx.post(f"{dashboard.base}/refresh", data={"_xsrf": "x"})
    assert r.status_code == 403


def test_the_printed_url_sets_a_cookie_and_drops_the_token_from_the_address(dashboard):
    with httpx.Client() as client:
        r = client.get(dashboard.url)
        assert r.status_code == 303 and r.headers["location"] == "/"
        assert "httponly" in r.headers["set-cookie"].lower()
        assert "samesite=strict" in r.headers["set-cookie"].lower()
        assert client.get(f"{dashboard.base}/money").status_code == 200


def test_an_action_without_the_xsrf_token_gets_403(dashboard):
    auth = {"Authorization": f"token {dashboard.token}"}
    for data in ({}, {"_xsrf": "0" * 64}):
        assert httpx.post(f"{dashboard.base}/refresh", headers=auth,
                          data=data).status_code == 403
        assert httpx.post(f"{dashboard.base}/machines/x/stop", headers=auth,
                          data=data).status_code == 403
    ok = httpx.post(f"{dashboard.base}/refresh", headers=auth, data={"_xsrf": xsrf_of(dashboard)})
    assert ok.status_code == 303


def test_a_foreign_host_header_gets_403_even_with_the_token(dashboard):
    port = dashboard.host.rsplit(":", 1)[1]
    for host in ("evil.example:80", f"evil.example:{port}", f"127.0.0.1.nip.io:{port}"):
        r = httpx.get(f"{dashboard.base}/machines", headers={
            "Host": host, "Authorization": f"token {dashboard.token}"})
        assert r.status_code == 403, host


def test_it_listens_on_loopback_only_by_default(dashboard):
    assert dashboard.host.startswith("127.0.0.1:")


def test_a_port_in_use_is_one_line_exit_2(nbctl, dashboard):
    port = dashboard.host.rsplit(":", 1)[1]
    r = nbctl("ui", "--no-browser", "--port", port)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "choose another --port" in r.stderr


def test_another_host_is_served_with_a_warning(nbctl_home):
    d = Dashboard("--host", "0.0.0.0")
    try:
        assert "warning: serving on 0.0.0.0" in "".join(d.output)
        assert httpx.get(f"{d.base}/machines", headers={
            "Authorization": f"token {d.token}"}).status_code == 200
    finally:
        d.stop()


def test_a_host_that_is_not_this_computer_is_one_line_exit_2_and_makes_nothing(nbctl,
                                                                                nbctl_home):
    r = nbctl("ui", "--no-browser", "--host", "192.0.2.1")  # TEST-NET-1: no one's address
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "leave --host out" in r.stderr
    assert not (nbctl_home / "data" / "state.db").exists()


def test_refresh_sends_back_only_to_a_page_of_its_own(dashboard):
    auth = {"Authorization": f"token {dashboard.token}"}
    for back, where in (("/money?since=1d", "/money?since=1d"), ("//evil.example/", "/machines"),
                        ("/\\evil.example/", "/machines"), ("https://evil.example/", "/machines")):
        r = httpx.post(f"{dashboard.base}/refresh", headers=auth,
                       data={"_xsrf": xsrf_of(dashboard), "next": back})
        assert r.status_code == 303 and r.headers["location"] == where, back


def test_an_unknown_job_or_range_is_said_with_its_status(dashboard):
    auth = {"Authorization": f"token {dashboard.token}"}
    r = httpx.get(f"{dashboard.base}/jobs/nosuch", headers=auth)
    assert r.status_code == 404 and "no job &#39;nosuch&#39;" in r.text  # escaped
    r = httpx.get(f"{dashboard.base}/money?since=soon", headers=auth)
    assert r.status_code == 400 and "range" in r.text
