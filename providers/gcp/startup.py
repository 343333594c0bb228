"""The startup script of a spot VM: starts Jupyter and nbctl's on-VM agent (idle shutdown,
preemption notice), built by nbctl_cloud.bootscript so every provider runs the same agent, then
nbctl's job launcher (job_launcher.py), which starts the jobs `nbctl run` puts in the VM's metadata
through nbctl's carried runtime (fetched and checked by nbctl_carry.py, written beside it).

Every path the script writes is under "$R" (NBCTL_ROOT, empty on a real VM).
"""
from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nbctl_cloud.tunnel import SshRoute

STOP_COMMAND = "shutdown -h now"  # halting a GCE VM stops it (TERMINATED), keeping its disk
LAUNCHER_FILE = Path(__file__).resolve().parent / "job_launcher.py"
LAUNCHER_PATH = "/opt/nbctl/nbctl_jobs.py"
CARRY_PATH = "/opt/nbctl/nbctl_carry.py"  # the launcher imports it: it sits beside it
RUNTIME_DIR = "/opt/nbctl/runtime"  # nbctl's carried runtime, one folder per sha256
HEREDOC_END = "NBCTL_JOBS_EOF"
JOB_DIR = "/var/lib/nbctl/jobs"  # the agent's job dir: live pids there get the notice


def startup_script(*, idle_timeout: int | None, metadata_url: str | None,
                   jupyter_port: int) -> str:
    """Holds no secret: Jupyter's token is made on the VM (see nbctl_cloud.bootscript)."""
    from nbctl_cloud.bootscript import POWER_OFF
    from nbctl_cloud.bootscript import startup_script as build
    script = build(stop_command=STOP_COMMAND, idle_timeout=idle_timeout, preemption="gce",
                   metadata_url=metadata_url, jupyter_port=jupyter_port, job_dir=JOB_DIR,
                   fallback_stop_command=POWER_OFF)
    return script + launcher_section(metadata_url)


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


def launcher_section(metadata_url: str | None) -> str:
    """Bash appended to the agent's start-up script (it defines R, RUN, PY and running())."""
    from nbctl_cloud.runtime_bundle import machine_source
    url = f" --metadata-url {shlex.quote(metadata_url)}" if metadata_url else ""
    sources = ((CARRY_PATH, machine_source()), (LAUNCHER_PATH, LAUNCHER_FILE.read_text()))
    files = "".join(f"""cat > "$R{path}.new" <<'{HEREDOC_END}'
{source.rstrip(chr(10))}
{HEREDOC_END}
mv -f "$R{path}.new" "$R{path}"
""" for path, source in sources)
    return f"""
# nbctl's job launcher: starts the job that `nbctl run` puts in the nbctl-job attribute
{files}if running "$RUN/jobs.pid" nbctl_jobs; then kill "$(cat "$RUN/jobs.pid")"; fi
nohup "$PY" "$R{LAUNCHER_PATH}"{url} --job-dir "$R{JOB_DIR}" \\
  --state-dir "$R/var/lib/nbctl/launcher" --log-dir "$R/var/log/nbctl-jobs" \\
  --home "$R/home/jupyter" --runtime-dir "$R{RUNTIME_DIR}" \\
  >>"$R/var/log/nbctl-jobs.log" 2>&1 </dev/null &
echo $! > "$RUN/jobs.pid"
"""
