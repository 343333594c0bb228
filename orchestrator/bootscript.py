"""nbctl's machine agent and the start-up script that installs it on every machine nbctl makes.

`agent_source()` is the agent itself (nbctl_agent.py: standard library only, runs on the
image's python3). `startup_script(...)` is the bash a machine runs at each boot: it writes the
agent to /opt/nbctl, starts Jupyter if asked, then starts the agent with the given settings.
Nothing is downloaded at boot: machines may have no internet.

Layout on the machine:
  /opt/nbctl/nbctl_agent.py             the agent
  /opt/nbctl/jupyter-token              Jupyter's token, mode 0600 (generated when none is given)
  /var/lib/nbctl/agent-state.json       what the agent saw at its last check, and why it stopped
  /var/lib/nbctl/jobs/<run_id>.pid      running nbctl jobs (a live pid keeps the machine up)
  /var/log/nbctl-{jupyter,agent}.log    their output
  /run/nbctl/{jupyter,agent}.pid        their pids, so a second run starts nothing twice
"""
from __future__ import annotations

import shlex
from pathlib import Path

AGENT_FILE = Path(__file__).resolve().parent / "runtime" / "nbctl_agent.py"
AGENT_PATH = "/opt/nbctl/nbctl_agent.py"
TOKEN_PATH = "/opt/nbctl/jupyter-token"
STATE_PATH = "/var/lib/nbctl/agent-state.json"
PREEMPTION_KINDS = ("none", "gce", "ec2")
HEREDOC_END = "NBCTL_AGENT_EOF"


def agent_source() -> str:
    """The agent's Python source, to embed in a machine's start-up script or lifecycle config."""
    return AGENT_FILE.read_text()


def agent_command(*, stop_command: str, idle_timeout: int | None, preemption: str | None = None,
                  metadata_url: str | None = None, jupyter_port: int = 8888,
                  interval: int = 60, job_dir: str = "/var/lib/nbctl/jobs",
                  prefix: str = "") -> str:
    """The shell command line that runs the installed agent with these settings.

    `prefix` is put verbatim before every file path (the start-up script passes "$R")."""
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
    if kind != "none":
        args.append("--signal-jobs")  # jobs save a checkpoint before the machine goes
        if metadata_url:
            args.append(f"--metadata-url {shlex.quote(metadata_url)}")
    return f'"$PY" {path(AGENT_PATH)} ' + " ".join(args)


def startup_script(*, stop_command: str, idle_timeout: int | None, preemption: str | None = None,
                   metadata_url: str | None = None, jupyter_port: int = 8888,
                   notebook_dir: str = "/home/jupyter", token: str | None = None,
                   interval: int = 60, job_dir: str = "/var/lib/nbctl/jobs",
                   start_jupyter: bool = True, jupyter_ip: str = "0.0.0.0") -> str:
    """A bash script, run as root at every boot, that installs and starts the agent.

    Idempotent: run again, it rewrites the agent, keeps a running Jupyter, and restarts the
    agent with these settings. Jupyter (jupyter-lab, else jupyter-notebook, else
    jupyter-server, whichever the image has) listens on `jupyter_ip`:`jupyter_port` with
    `token`; with no token a random one is made at first boot and kept in the token file. The
    token goes to Jupyter through its environment, never on a command line or into a log.
    Environment variable NBCTL_ROOT, empty on a machine, prefixes every path it writes.
    """
    source = agent_source()
    if f"\n{HEREDOC_END}\n" in f"\n{source}\n":
        raise ValueError(f"the agent source contains the heredoc end marker {HEREDOC_END}")
    agent = agent_command(stop_command=stop_command, idle_timeout=idle_timeout,
                          preemption=preemption, metadata_url=metadata_url,
                          jupyter_port=jupyter_port, interval=interval, job_dir=job_dir,
                          prefix='"$R"')
    q = shlex.quote
    if token:
        make_token = f"(umask 077; printf '%s' {q(token)} > \"$TOK\")"
    else:
        make_token = ("[ -s \"$TOK\" ] || (umask 077; od -An -N24 -tx1 /dev/urandom"
                      " | tr -d ' \\n' > \"$TOK\")")
    jupyter = ""
    if start_jupyter:
        jupyter = f"""
if ! running "$RUN/jupyter.pid" jupyter; then
  J=""
  for c in jupyter-lab jupyter-notebook jupyter-server; do
    if command -v "$c" >/dev/null; then J="$c"; break; fi
  done
  if [ -n "$J" ]; then
    mkdir -p "$R"{q(notebook_dir)}
    JUPYTER_TOKEN="$(cat "$TOK")" nohup "$J" --ip={q(jupyter_ip)} --port={int(jupyter_port)} \\
      --no-browser --allow-root --notebook-dir="$R"{q(notebook_dir)} \\
      >>"$R/var/log/nbctl-jupyter.log" 2>&1 </dev/null &
    echo $! > "$RUN/jupyter.pid"
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

cat > "$R{AGENT_PATH}.new" <<'{HEREDOC_END}'
{source.rstrip(chr(10))}
{HEREDOC_END}
mv -f "$R{AGENT_PATH}.new" "$R{AGENT_PATH}"
{make_token}
{jupyter}
if running "$RUN/agent.pid" nbctl_agent; then kill "$(cat "$RUN/agent.pid")"; fi
nohup {agent} \\
  >>"$R/var/log/nbctl-agent.log" 2>&1 </dev/null &
echo $! > "$RUN/agent.pid"
"""
