"""The startup script of a spot VM: starts Jupyter and nbctl's on-VM agent (idle shutdown,
preemption notice), built by nbctl_cloud.bootscript so every provider runs the same agent, then nbctl's
job launcher (job_launcher.py), which starts the jobs `nbctl run` puts in the VM's metadata.

Every path the script writes is under "$R" (NBCTL_ROOT, empty on a real VM).
"""
from __future__ import annotations

import shlex
from pathlib import Path

STOP_COMMAND = "shutdown -h now"  # halting a GCE VM stops it (TERMINATED), keeping its disk
LAUNCHER_FILE = Path(__file__).resolve().parent / "job_launcher.py"
LAUNCHER_PATH = "/opt/nbctl/nbctl_jobs.py"
HEREDOC_END = "NBCTL_JOBS_EOF"
JOB_DIR = "/var/lib/nbctl/jobs"  # the agent's job dir: live pids there get the notice


def startup_script(*, idle_timeout: int | None, metadata_url: str | None, jupyter_port: int,
                   token: str) -> str:
    from nbctl_cloud.bootscript import startup_script as build
    script = build(stop_command=STOP_COMMAND, idle_timeout=idle_timeout, preemption="gce",
                   metadata_url=metadata_url, jupyter_port=jupyter_port, token=token,
                   job_dir=JOB_DIR)
    return script + launcher_section(metadata_url)


def launcher_section(metadata_url: str | None) -> str:
    """Bash appended to the agent's start-up script (it defines R, RUN, PY and running())."""
    source = LAUNCHER_FILE.read_text()
    url = f" --metadata-url {shlex.quote(metadata_url)}" if metadata_url else ""
    return f"""
# nbctl's job launcher: starts the job that `nbctl run` puts in the nbctl-job attribute
cat > "$R{LAUNCHER_PATH}.new" <<'{HEREDOC_END}'
{source.rstrip(chr(10))}
{HEREDOC_END}
mv -f "$R{LAUNCHER_PATH}.new" "$R{LAUNCHER_PATH}"
if running "$RUN/jobs.pid" nbctl_jobs; then kill "$(cat "$RUN/jobs.pid")"; fi
nohup "$PY" "$R{LAUNCHER_PATH}"{url} --job-dir "$R{JOB_DIR}" \\
  --state-dir "$R/var/lib/nbctl/launcher" --log-dir "$R/var/log/nbctl-jobs" \\
  --home "$R/home/jupyter" >>"$R/var/log/nbctl-jobs.log" 2>&1 </dev/null &
echo $! > "$RUN/jobs.pid"
"""
