"""The startup script of a spot VM: starts Jupyter and nbctl's on-VM agent (idle shutdown,
preemption notice), built by nbctl_cloud.bootscript so every provider runs the same agent, then
nbctl's job launcher (nbctl_cloud.runtime.job_launcher, `--source gce`), which starts the jobs
`nbctl run` puts in the VM's metadata through nbctl's carried runtime.

Every path the script writes is under "$R" (NBCTL_ROOT, empty on a real VM).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nbctl_cloud.tunnel import SshRoute

STOP_COMMAND = "shutdown -h now"  # halting a GCE VM stops it (TERMINATED), keeping its disk
HOME = "/home/jupyter"  # a Deep Learning VM's notebook user: jobs without a workdir run here


def startup_script(*, idle_timeout: int | None, metadata_url: str | None,
                   jupyter_port: int) -> str:
    """Holds no secret: Jupyter's token is made on the VM (see nbctl_cloud.bootscript)."""
    from nbctl_cloud.bootscript import JOB_DIR, POWER_OFF, launcher_section
    from nbctl_cloud.bootscript import startup_script as build
    script = build(stop_command=STOP_COMMAND, idle_timeout=idle_timeout, preemption="gce",
                   metadata_url=metadata_url, jupyter_port=jupyter_port, job_dir=JOB_DIR,
                   fallback_stop_command=POWER_OFF)
    return script + launcher_section(source="gce", metadata_url=metadata_url, home=HOME)


def ssh_keys_line(name: str) -> str:
    """The `ssh-keys` metadata value that lets `nbctl open` in: "USERNAME:KEY" (docs:
    compute/docs/connect/add-ssh-keys#metadata); the guest agent makes the user, with sudo."""
    from nbctl_cloud.bootscript import SSH_USER
    from nbctl_cloud.tunnel import instance_key
    return f"{SSH_USER}:{instance_key('gcp', name)[1]}"


def route(name: str, vm_id: int, ip: str, settings) -> "SshRoute":
    from nbctl_cloud.bootscript import SSH_USER, TOKEN_COMMAND
    from nbctl_cloud.tunnel import SshRoute, instance_key
    return SshRoute(host=ip, port=settings.ssh_port, user=SSH_USER,
                    key_path=instance_key("gcp", name)[0], host_alias=f"gcp-{name}-{vm_id}",
                    remote_port=settings.jupyter_port, token_command=TOKEN_COMMAND)
