"""The tests' own waits fail loudly: a wait that runs out raises, naming what it waited for,
instead of returning False for an assert that someone may forget to write."""
from __future__ import annotations

import pytest

from tests.agent.fakes import wait_for, wait_for_checks


def test_wait_for_raises_naming_what_it_waited_for_when_time_runs_out():
    with pytest.raises(TimeoutError, match="still waiting after 0.1 s for the moon"):
        wait_for(lambda: False, 0.1, what="the moon")


def test_wait_for_returns_true_once_the_condition_holds():
    calls = []
    assert wait_for(lambda: calls.append(1) or len(calls) >= 3, 60, step=0.001) is True


def test_waiting_for_checks_of_an_agent_that_never_wrote_raises(tmp_path):
    with pytest.raises(TimeoutError, match="agent's idle check number 1 "):
        wait_for_checks(tmp_path / "state.json", 1, timeout=0.1)
