"""nbctl's machine agent and the start-up script that installs it on every machine nbctl makes.

`agent_source()` is the agent itself (nbctl_agent.py: standard library only, runs on the
image's python3). `startup_script(...)` is the bash a machine runs at each boot: it writes the
agent to /opt/nbctl, starts Jupyter if asked, then starts the agent with the given settings.
Nothing is downloaded at boot: machines may have no internet. Nothing secret is in the script:
Jupyter's token is made on the machine at first boot, and Jupyter listens on 127.0.0.1 only, as
the unprivileged user `nbctl`; `nbctl open` reaches it through SSH (see nbctl_cloud.tunnel) as
the user `nbctl-admin`, who reads the token with sudo.

Layout on the machine:
  /opt/nbctl/nbctl_agent.py             the agent
  /opt/nbctl/jupyter-token              Jupyter's token, mode 0600, owned by the Jupyter user
  /var/lib/nbctl/agent-state.json       what the agent saw at its last check, and why it stopped
  /var/lib/nbctl/jobs/<run_id>.pid      running nbctl jobs (a live pid keeps the machine up)
  /opt/nbctl/nbctl_{jobs,carry}.py      the job launcher and what checks nbctl's carried runtime
  /opt/nbctl/runtime/<sha256>/          nbctl's carried runtime, unpacked (jobs run from it)
  /var/log/nbctl-{jupyter,agent}.log    their output
  /run/nbctl/{jupyter,agent}.pid        their pids, so a second run starts nothing twice
"""
from __future__ import annotations

import base64
import gzip
import shlex
from pathlib import Path

AGENT_FILE = Path(__file__).resolve().parent / "runtime" / "nbctl_agent.py"
AGENT_PATH = "/opt/nbctl/nbctl_agent.py"
LAUNCHER_FILE = Path(__file__).resolve().parent / "runtime" / "job_launcher.py"
CARRY_FILE = Path(__file__).resolve().parent / "runtime" / "carry.py"
LAUNCHER_PATH = "/opt/nbctl/nbctl_jobs.py"
CARRY_PATH = "/opt/nbctl/nbctl_carry.py"  # the launcher imports it: it sits beside it
RUNTIME_DIR = "/opt/nbctl/runtime"  # nbctl's carried runtime, one folder per sha256
JOB_DIR = "/var/lib/nbctl/jobs"  # the agent's job dir: live pids there get the notice
JOBS_HEREDOC_END = "NBCTL_JOBS_EOF"
TOKEN_PATH = "/opt/nbctl/jupyter-token"
STATE_PATH = "/var/lib/nbctl/agent-state.json"
JUPYTER_USER = "nbctl"  # runs Jupyter: no sudo, no cloud credentials of its own
SSH_USER = "nbctl-admin"  # `nbctl open` logs in as this user (sudo, to read the token)
# what `nbctl open` runs over SSH to read the token (NBCTL_ROOT is unset on a machine)
TOKEN_COMMAND = 'sudo cat "${NBCTL_ROOT:-}' + TOKEN_PATH + '"'
PREEMPTION_KINDS = ("none", "gce", "ec2")
HEREDOC_END = "NBCTL_AGENT_EOF"
# when the stop command fails 3 times: power off at once (a guest power-off stops a VM on
# GCE, EC2 with InstanceInitiatedShutdownBehavior=stop, and Paperspace)
POWER_OFF = "systemctl poweroff --force || poweroff -f"


def agent_source() -> str:
    """The agent's Python source, to embed in a machine's start-up script or lifecycle config."""
    return AGENT_FILE.read_text()


def packed_agent() -> str:
    """The agent gzipped and base64-encoded, lines of 76: what a boot script carries, so that
    it fits SageMaker's 16 KiB lifecycle configuration and EC2's 16 KB user data."""
    data = base64.encodebytes(gzip.compress(agent_source().encode(), mtime=0)).decode()
    return data.rstrip("\n")


def agent_command(*, stop_command: str, idle_timeout: int | None, preemption: str | None = None,
                  metadata_url: str | None = None, jupyter_port: int = 8888,
                  interval: int = 60, job_dir: str = "/var/lib/nbctl/jobs",
                  prefix: str = "", pid_file: str | None = None,
                  fallback_stop_command: str | None = None) -> str:
    """The shell command line that runs the installed agent with these settings.

    `prefix` is put verbatim before every file path (the start-up script passes "$R"); the
    agent trusts only a Jupyter listener owned by the pid in `pid_file` (a shell word)."""
    kind = preemption or "none"
    if kind not in PREEMPTION_KINDS:
        raise ValueError(f"preemption must be one of {PREEMPTION_KINDS}, not {preemption!r}")
    if (idle_timeout or 0) < 0 or interval <= 0:
        raise ValueError("idle_timeout must be >= 0 and interval > 0 (seconds)")

    def path(p: str) -> str:
        return prefix + shlex.quote(p)

    args = [f"--jupyter-url http://127.0.0.1:{int(jupyter_port)}",
            f"--token-file {path(TOKEN_PATH)}", f"--idle-timeout {int(idle_timeout or 0)}",
            f"--interval {int(interval)}", f"--stop-command {shlex.quote(stop_command)}",
            f"--state-file {path(STATE_PATH)}", f"--job-dir {path(job_dir)}",
            f"--preemption {kind}"]
    if pid_file:
        args.append(f"--jupyter-pid-file {pid_file}")
    if fallback_stop_command:
        args.append(f"--fallback-stop-command {shlex.quote(fallback_stop_command)}")
    if kind != "none":
        args.append("--signal-jobs")  # jobs save a checkpoint before the machine goes
        if metadata_url:
            args.append(f"--metadata-url {shlex.quote(metadata_url)}")
    return f'"$PY" {path(AGENT_PATH)} ' + " ".join(args)


def startup_script(*, stop_command: str, idle_timeout: int | None, preemption: str | None = None,
                   metadata_url: str | None = None, jupyter_port: int = 8888,
                   notebook_dir: str = "/home/nbctl/notebooks", interval: int = 60,
                   job_dir: str = "/var/lib/nbctl/jobs", start_jupyter: bool = True,
                   authorized_key: str | None = None,
                   fallback_stop_command: str | None = None) -> str:
    """A bash script, run as root at every boot, that installs and starts the agent.

    Idempotent: run again, it rewrites the agent, keeps a running Jupyter, and restarts the
    agent with these settings. Jupyter (jupyter-lab, else jupyter-notebook, else
    jupyter-server, whichever the image has) listens on 127.0.0.1:`jupyter_port` only, as the
    user `nbctl`, with port_retries=0 (a port taken by another process makes it fail, never
    move). Its token is made at first boot into a 0600 file of that user and goes to Jupyter
    through its environment, never on a command line or into a log. `authorized_key` (a
    public key line; for clouds with no ssh-keys metadata) lets `nbctl-admin` log in by SSH.
    Environment variable NBCTL_ROOT, empty on a machine, prefixes every path it writes; set
    (an emulated machine), the script makes no user and runs Jupyter as its own user.
    """
    packed = packed_agent()  # base64 lines cannot hold the heredoc end marker
    agent = agent_command(stop_command=stop_command, idle_timeout=idle_timeout,
                          preemption=preemption, metadata_url=metadata_url,
                          jupyter_port=jupyter_port, interval=interval, job_dir=job_dir,
                          prefix='"$R"', pid_file='"$RUN/jupyter.pid"' if start_jupyter else None,
                          fallback_stop_command=fallback_stop_command)
    q = shlex.quote
    admin = ""
    if authorized_key:
        if "\n" in authorized_key or not authorized_key.startswith("ssh-"):
            raise ValueError("authorized_key must be one OpenSSH public key line")
        admin = f"""
# `nbctl open` logs in as {SSH_USER} with this instance's key, and reads the token with sudo
if [ "$(id -u)" = 0 ] && [ -z "$R" ]; then
  id {SSH_USER} >/dev/null 2>&1 || useradd --create-home --shell /bin/bash {SSH_USER}
  install -d -m 700 -o {SSH_USER} -g {SSH_USER} /home/{SSH_USER}/.ssh
  printf '%s\\n' {q(authorized_key)} > /home/{SSH_USER}/.ssh/authorized_keys
  chown {SSH_USER}: /home/{SSH_USER}/.ssh/authorized_keys
  chmod 600 /home/{SSH_USER}/.ssh/authorized_keys
  echo '{SSH_USER} ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/90-{SSH_USER}
  chmod 440 /etc/sudoers.d/90-{SSH_USER}
fi
"""
    jupyter = ""
    if start_jupyter:
        jupyter = f"""
# Jupyter runs as {JUPYTER_USER}, unprivileged; its token is in a 0600 file of that user
AS=""
if [ "$(id -u)" = 0 ] && [ -z "$R" ]; then
  id {JUPYTER_USER} >/dev/null 2>&1 || useradd --system --create-home --shell /bin/bash {JUPYTER_USER}
  AS="setpriv --reuid={JUPYTER_USER} --regid={JUPYTER_USER} --init-groups --"
fi
[ -s "$TOK" ] || (umask 077; od -An -N24 -tx1 /dev/urandom | tr -d ' \\n' > "$TOK")
mkdir -p "$R"{q(notebook_dir)}
if [ -n "$AS" ]; then
  chown {JUPYTER_USER}: "$TOK" "$R"{q(notebook_dir)}
  chmod 600 "$TOK"
fi
if ! running "$RUN/jupyter.pid" jupyter; then
  J=""
  for c in jupyter-lab jupyter-notebook jupyter-server; do
    if command -v "$c" >/dev/null; then J="$(command -v "$c")"; break; fi
  done
  if [ -n "$J" ]; then
    touch "$R/var/log/nbctl-jupyter.log" && chmod 600 "$R/var/log/nbctl-jupyter.log"  # its URLs
    JUPYTER_TOKEN="$(cat "$TOK")" HOME="$R/home/{JUPYTER_USER}" nohup $AS "$J" --ip=127.0.0.1 \\
      --port={int(jupyter_port)} --ServerApp.port_retries=0 \\
      --no-browser --notebook-dir="$R"{q(notebook_dir)} \\
      >>"$R/var/log/nbctl-jupyter.log" 2>&1 </dev/null &
    echo $! > "$RUN/jupyter.pid.new" && mv -f "$RUN/jupyter.pid.new" "$RUN/jupyter.pid"
  else
    echo "nbctl: no jupyter on PATH; the agent waits for one" >&2
  fi
fi
"""
    return f"""#!/bin/bash
# nbctl start-up: install nbctl's agent, start Jupyter and the agent. Runs at every boot.
set -u
R="${{NBCTL_ROOT:-}}"  # path prefix: empty on a machine
RUN="$R/run/nbctl"
TOK="$R{TOKEN_PATH}"
export PATH="/opt/conda/bin:/usr/local/bin:$PATH"
PY="$(command -v python3 || command -v python)"
mkdir -p "$R/opt/nbctl" "$R/var/lib/nbctl" "$R/var/log" "$RUN" "$R"{q(job_dir)}
chmod 0755 "$R"{q(job_dir)}  # root's only: the agent signals the pids found here

# true if the pid in file $1 is alive and its command line mentions $2 (pids are reused)
running() {{ [ -s "$1" ] && grep -qa -- "$2" "/proc/$(cat "$1")/cmdline" 2>/dev/null; }}

base64 -d <<'{HEREDOC_END}' | gzip -dc > "$R{AGENT_PATH}.new"
{packed}
{HEREDOC_END}
mv -f "$R{AGENT_PATH}.new" "$R{AGENT_PATH}"
{admin}{jupyter}
if running "$RUN/agent.pid" nbctl_agent; then kill "$(cat "$RUN/agent.pid")"; fi
nohup {agent} \\
  >>"$R/var/log/nbctl-agent.log" 2>&1 </dev/null &
echo $! > "$RUN/agent.pid.new" && mv -f "$RUN/agent.pid.new" "$RUN/agent.pid"  # never seen half-written
"""


def launcher_section(*, source: str, metadata_url: str | None, home: str,
                     mailbox_url: str | None = None, requirements: tuple[str, ...] = ()) -> str:
    """Bash appended to `startup_script(...)` (it defines R, RUN, PY and running()): writes
    nbctl's job launcher (nbctl_cloud.runtime.job_launcher) and nbctl_carry.py beside it, and
    starts the launcher watching `source` ("gce": the nbctl-job attribute; "ec2": the nbctl-job
    instance tag; "mailbox": the file at `mailbox_url`, read with `requirements` installed).
    Jobs without a working directory run in `home`."""
    url = f" --metadata-url {shlex.quote(metadata_url)}" if metadata_url else ""
    if source == "mailbox":
        url += (f" --mailbox-url {shlex.quote(mailbox_url or '')}"
                f" --requirements {shlex.quote(' '.join(requirements))}")
    sources = ((CARRY_PATH, CARRY_FILE.read_text()), (LAUNCHER_PATH, LAUNCHER_FILE.read_text()))
    if any(JOBS_HEREDOC_END in text for _, text in sources):
        raise ValueError("a launcher file holds the heredoc end marker")
    files = "".join(f"""cat > "$R{path}.new" <<'{JOBS_HEREDOC_END}'
{text.rstrip(chr(10))}
{JOBS_HEREDOC_END}
mv -f "$R{path}.new" "$R{path}"
""" for path, text in sources)
    return f"""
# nbctl's job launcher: starts the job attempts that `nbctl run` hands this machine
{files}if running "$RUN/jobs.pid" nbctl_jobs; then kill "$(cat "$RUN/jobs.pid")"; fi
nohup "$PY" "$R{LAUNCHER_PATH}" --source {shlex.quote(source)}{url} --job-dir "$R{JOB_DIR}" \\
  --state-dir "$R/var/lib/nbctl/launcher" --log-dir "$R/var/log/nbctl-jobs" \\
  --home "$R"{shlex.quote(home)} --runtime-dir "$R{RUNTIME_DIR}" \\
  >>"$R/var/log/nbctl-jobs.log" 2>&1 </dev/null &
echo $! > "$RUN/jobs.pid.new" && mv -f "$RUN/jobs.pid.new" "$RUN/jobs.pid"  # never seen half-written
"""
