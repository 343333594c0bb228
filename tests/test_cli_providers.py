"""`nbctl providers`: what is installed and what each provider can do, in its own words."""
from __future__ import annotations

import json


def test_every_built_in_provider_is_listed_with_its_capabilities(nbctl, nbctl_home):
    r = nbctl("providers", "--output", "json")
    assert r.returncode == 0, r.stderr
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    assert {"local", "gcp", "aws", "paperspace"} <= set(rows)
    assert rows["local"]["needs_gpu"] is False and rows["gcp"]["needs_gpu"] is True
    assert "spot" not in rows["paperspace"]["capabilities"].split(", ")
    assert "jobs" in rows["gcp"]["capabilities"].split(", ")


def test_one_provider_says_why_it_lacks_a_capability(nbctl, nbctl_home):
    r = nbctl("providers", "paperspace", "--output", "json")
    assert r.returncode == 0, r.stderr
    caps = {row["capability"]: row for row in json.loads(r.stdout)["capabilities"]}
    assert caps["stop-start"]["supported"] is True and caps["stop-start"]["note"] == ""
    assert caps["spot"]["supported"] is False and "--preemptible" in caps["spot"]["note"]


def test_an_unknown_provider_is_one_line_exit_2(nbctl, nbctl_home):
    r = nbctl("providers", "nosuch")
    assert r.returncode == 2
    assert r.stderr.strip().startswith("nbctl: error: unknown provider 'nosuch'")
    assert len(r.stderr.strip().splitlines()) == 1
