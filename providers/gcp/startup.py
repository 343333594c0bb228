"""The startup script of a spot VM: starts Jupyter and nbctl's on-VM agent (idle shutdown,
preemption notice), built by configs.agent so every provider runs the same agent.
"""
from __future__ import annotations

import shlex

STOP_COMMAND = "shutdown -h now"  # halting a GCE VM stops it (TERMINATED), keeping its disk


def startup_script(*, idle_timeout: int | None, metadata_url: str | None, jupyter_port: int,
                   token: str) -> str:
    try:
        from configs.agent import startup_script as build
    except ImportError:
        return _minimal(jupyter_port, token)
    return build(stop_command=STOP_COMMAND, idle_timeout=idle_timeout, preemption="gce",
                 metadata_url=metadata_url, jupyter_port=jupyter_port, token=token)


def _minimal(port: int, token: str) -> str:
    """Jupyter only, used when configs.agent is not installed: no idle shutdown agent."""
    return "\n".join([
        "#!/bin/bash",
        "set -euo pipefail",
        "mkdir -p /home/jupyter",
        f"nohup jupyter lab --ip=0.0.0.0 --port={int(port)} --no-browser --allow-root "
        f"--ServerApp.token={shlex.quote(token)} --notebook-dir=/home/jupyter "
        ">/var/log/nbctl-jupyter.log 2>&1 &",
        "",
    ])
