"""Idle shutdown changed on an existing machine (`nbctl idle NAME --timeout 30m` / `--off`).

SageMaker: the agent runs from the notebook's OnStart lifecycle config; a config already
attached is rewritten in place (it takes effect at the next start), while attaching one
(UpdateNotebookInstance) is allowed only on a stopped notebook. EC2: the agent runs from the
user data, which EC2 lets one change only on a stopped instance.
"""
from __future__ import annotations

import pytest
from nbctl_cloud.errors import NbctlError
from nbctl_cloud.model import State

from tests.aws.specs import (
    nb_spec,
    on_start_script,
    spot_spec,
    user_data_of,
    wait_state,
)


def test_notebook_idle_timeout_rewrites_its_config_while_running(aws, emu):
    aws.create(nb_spec(idle_timeout=1800))
    wait_state(aws, "nb", State.RUNNING)
    aws.set_idle_shutdown("nb", 2700)
    assert "--idle-timeout 2700" in on_start_script(emu)
    assert emu.count("UpdateNotebookInstanceLifecycleConfig") == 1
    assert emu.count("UpdateNotebookInstance") == 0
    assert any("next start" in w for w in aws.warnings)  # SageMaker runs it at start only


def test_notebook_idle_off_keeps_the_agent_with_no_timeout(aws, emu):
    aws.create(nb_spec(idle_timeout=1800))
    aws.set_idle_shutdown("nb", None)
    script = on_start_script(emu)
    assert "--idle-timeout 0" in script and "nbctl_agent" in script


def test_notebook_without_idle_shutdown_gets_it_attached_only_when_stopped(aws, emu):
    aws.create(nb_spec())
    wait_state(aws, "nb", State.RUNNING)
    with pytest.raises(NbctlError, match="nbctl stop nb"):
        aws.set_idle_shutdown("nb", 1800)
    aws.stop("nb")
    wait_state(aws, "nb", State.STOPPED)
    aws.set_idle_shutdown("nb", 1800)
    assert "--idle-timeout 1800" in on_start_script(emu)
    assert emu.count("UpdateNotebookInstance") == 1


def test_spot_idle_timeout_needs_a_stopped_instance(aws, emu):
    inst = aws.create(spot_spec(idle_timeout=1800).with_zone("us-east-1a"))
    wait_state(aws, "sp", State.RUNNING)
    with pytest.raises(NbctlError, match="nbctl stop sp"):
        aws.set_idle_shutdown("sp", 600)
    assert "--idle-timeout 1800" in user_data_of(emu, inst.native_id)


def test_spot_idle_timeout_rewrites_the_user_data_keeping_the_ssh_key(aws, emu):
    inst = aws.create(spot_spec(idle_timeout=1800).with_zone("us-east-1a"))
    key_line = next(line for line in user_data_of(emu, inst.native_id).splitlines()
                    if "ssh-ed25519 " in line)
    aws.stop("sp")
    wait_state(aws, "sp", State.STOPPED)
    aws.set_idle_shutdown("sp", 600)
    script = user_data_of(emu, inst.native_id)
    assert "--idle-timeout 600" in script and key_line in script.splitlines()
    aws.set_idle_shutdown("sp", None)
    assert "--idle-timeout 0" in user_data_of(emu, inst.native_id)
