"""Processes behind the local provider: the Jupyter server, its token, GPUs, the preempter."""
from __future__ import annotations

import importlib.util
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from nbctl_cloud.errors import UserError

READY_MARK = "is running at"


def ui_path() -> str:
    return "lab" if importlib.util.find_spec("jupyterlab") else ""


def write_token(d: Path) -> None:
    path = d / "token"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(24))


def read_token(d: Path) -> str:
    try:
        return (d / "token").read_text().strip()
    except FileNotFoundError:
        return ""


def free_port() -> int:
    """A free port below the kernel's ephemeral range: Jupyter binds it only once started
    (port_retries=0, so it never moves to another), and in the meantime no bind to port 0 or
    outgoing connection (kernels' ZMQ sockets, other servers) can be given it."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768  # Linux's default; macOS's range starts at 49152
    for port in random.sample(range(10000, max(low, 10001)), k=min(64, max(low - 10000, 1))):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_command(d: Path, port: int, idle_timeout: int | None) -> list[str]:
    app = "jupyterlab" if ui_path() else "jupyter_server"
    cmd = [sys.executable, "-m", app, "--no-browser", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
           f"--ServerApp.root_dir={d / 'work'}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # containers and CI run as root; refusing helps nobody
    if idle_timeout:
        # Jupyter's own culling: idle (not busy) kernels and terminals go after the timeout.
        # Stopping the server is the agent's (start_agent): Jupyter's no-activity shutdown
        # would not see jobs or GPU use, and could not be turned off without a restart.
        every = max(1, min(60, idle_timeout // 4))
        cmd += [f"--MappingKernelManager.cull_idle_timeout={idle_timeout}",
                f"--MappingKernelManager.cull_interval={every}",
                "--MappingKernelManager.cull_busy=False",
                f"--TerminalManager.cull_inactive_timeout={idle_timeout}",
                f"--TerminalManager.cull_interval={every}"]
    return cmd


# The processes of an instance, each with the pid file its child writes (see spawn).
ROLES = ("preempter", "agent", "server")


def pid_file(d: Path, role: str) -> Path:
    return d / f"{role}.pid"


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def spawn(cmd: list[str], pidfile: Path, log: Path, *, cwd: Path | str | None = None,
          env: dict | None = None) -> int:
    """Start cmd detached, in its own session; returns its pid.

    The child writes its pid to pidfile itself, between fork and exec, and Popen returns only
    after the exec: so the pid is on disk before this returns, and an nbctl killed (-9) at any
    moment leaves no process that `stop` and `down` cannot find."""
    target = str(pidfile)

    def record_pid() -> None:  # runs in the child
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, str(os.getpid()).encode())
        finally:
            os.close(fd)

    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=record_pid)
    return proc.pid


def start_server(d: Path, port: int, *, idle_timeout: int | None,
                 cuda_visible_devices: str | None) -> int:
    """Start Jupyter on port, detached from this process; returns its pid."""
    env = dict(os.environ)
    env["JUPYTER_TOKEN"] = read_token(d)  # not on the command line, where `ps` would show it
    env["JUPYTER_RUNTIME_DIR"] = str(d / "runtime")
    env["CUDA_VISIBLE_DEVICES"] = cuda_visible_devices if cuda_visible_devices is not None else ""
    return spawn(server_command(d, port, idle_timeout), pid_file(d, "server"), d / "server.log",
                 cwd=d / "work", env=env)


def agent_interval(idle_timeout: int) -> float:
    """Seconds between the agent's idle checks: a tenth of the timeout, 1 s to 60 s."""
    return float(min(60, max(1, idle_timeout // 10)))


def start_agent(d: Path, port: int, server_pid: int, idle_timeout: int) -> int:
    """nbctl's idle agent beside the server: it stops the server when really idle (busy
    kernels, kernel/terminal activity, connections, GPU use and jobs all count)."""
    from nbctl_cloud.bootscript import AGENT_FILE

    (d / "jobs").mkdir(exist_ok=True)
    (d / "agent-state.json").unlink(missing_ok=True)
    cmd = [sys.executable, str(AGENT_FILE), "--jupyter-url", f"http://127.0.0.1:{port}",
           "--token-file", str(d / "token"), "--idle-timeout", str(idle_timeout),
           "--interval", str(agent_interval(idle_timeout)),
           "--stop-command", f"kill -TERM -{int(server_pid)}",
           "--state-file", str(d / "agent-state.json"), "--job-dir", str(d / "jobs")]
    return spawn(cmd, pid_file(d, "agent"), d / "agent.log")


def idle_stop_reason(d: Path) -> str | None:
    """Why the agent stopped this instance, if it did."""
    try:
        state = json.loads((d / "agent-state.json").read_text())
    except (FileNotFoundError, ValueError):
        return None
    return f"idle: {state['stop_reason']}" if state.get("stop_reason") else None


def alive(pid: int | None, d: Path) -> bool:
    """True if pid is a live process of this instance (not a reused pid, not a zombie)."""
    if not pid:
        return False
    try:
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our own exited child
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # someone else's process took the pid
    proc = Path(f"/proc/{pid}")
    if proc.exists():
        try:
            if proc.joinpath("stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return False
            return str(d) in proc.joinpath("cmdline").read_bytes().decode(errors="replace")
        except (OSError, IndexError):
            return False
    return True


def answers(port: int, token: str) -> bool:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/status",
                                 headers={"Authorization": f"token {token}"})
    try:
        with urllib.request.urlopen(req, timeout=1.0) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def last_activity(port: int, token: str) -> float | None:
    """When Jupyter last saw activity (its REST API's /api/status `last_activity`: requests,
    kernel messages), as a timestamp; None if it does not answer."""
    from datetime import datetime
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/status",
                                 headers={"Authorization": f"token {token}"})
    try:
        with urllib.request.urlopen(req, timeout=1.0) as resp:
            stamp = json.loads(resp.read()).get("last_activity")
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except (urllib.error.URLError, OSError, ValueError, AttributeError, TypeError):
        return None


def server_started(d: Path) -> bool:
    try:
        return READY_MARK in (d / "server.log").read_text(errors="replace")
    except FileNotFoundError:
        return False


def last_log_line(d: Path) -> str | None:
    try:
        lines = [ln for ln in (d / "server.log").read_text(errors="replace").splitlines() if ln.strip()]
    except FileNotFoundError:
        return None
    return lines[-1][-300:] if lines else None


def terminate(pid: int | None, d: Path, grace: float = 10.0) -> None:
    """SIGTERM the process group (Jupyter shuts its kernels down), SIGKILL after grace."""
    if not alive(pid, d):
        return
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not alive(pid, d):
            return
        time.sleep(0.05)
    _signal_group(pid, signal.SIGKILL)


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def pick_gpus(gpu: str, count: int) -> str | None:
    """CUDA_VISIBLE_DEVICES for `count` local NVIDIA GPUs of this model; None for none."""
    if not count:
        return None
    smi = shutil.which("nvidia-smi")
    rows: list[tuple[str, str]] = []
    if smi:
        try:
            out = subprocess.run([smi, "--query-gpu=index,name", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=10).stdout
            rows = [tuple(x.strip() for x in ln.split(",", 1)) for ln in out.splitlines() if "," in ln]
        except (OSError, subprocess.SubprocessError):
            rows = []
    if not rows:
        raise UserError(f"this machine has no NVIDIA GPU for --gpu {gpu}:{count}: use "
                        f"--gpu none with the local provider, or a cloud --provider")
    marker = gpu.replace("-80gb", "").replace("-", "").upper()
    matching = [i for i, n in rows if marker in n.upper().replace(" ", "").replace("-", "")]
    if len(matching) < count:
        have = ", ".join(sorted({n for _, n in rows}))
        raise UserError(f"this machine has {len(matching)} {gpu} GPU(s) (it has: {have}): "
                        f"ask for fewer, or the --gpu it has")
    return ",".join(matching[:count])


def preempt_window(config: dict) -> tuple[float, float, float] | None:
    """(earliest, latest, notice) seconds for simulated preemption, or None when off."""
    from nbctl_cloud.spec import parse_duration

    raw = os.environ.get("NBCTL_LOCAL_PREEMPT_AFTER") or config.get("preempt_after")
    if not raw:
        return None
    lo_s, _, hi_s = str(raw).partition("-")
    what = "NBCTL_LOCAL_PREEMPT_AFTER"
    lo = parse_duration(lo_s, what=what)
    hi = parse_duration(hi_s, what=what) if hi_s else lo
    notice_raw = os.environ.get("NBCTL_LOCAL_PREEMPT_NOTICE") or config.get("preempt_notice") or "30s"
    notice = 0 if str(notice_raw) in ("0", "0s") else parse_duration(notice_raw, what="NBCTL_LOCAL_PREEMPT_NOTICE")
    if hi < lo:
        raise UserError(f"invalid {what} {raw!r}: write the earlier bound first, e.g. 30s-5m")
    return float(lo), float(hi), float(notice)


def start_preempter(d: Path, server_pid: int, port: int,
                    window: tuple[float, float, float]) -> int:
    lo, hi, notice = window
    delay = random.uniform(lo, hi)
    return spawn([sys.executable, "-m", "nbctl_cloud.providers.local.preempter", str(d),
                  str(server_pid), str(port), f"{delay:.3f}", f"{notice:.3f}"],
                 pid_file(d, "preempter"), d / "preempter.log")


def preempt(d: Path, server_pid: int | None, notice_seconds: float) -> None:
    """Announce a preemption, wait out the notice, then take the machine away.

    As on a cloud, running jobs get SIGTERM with the notice (the agent's job on a real
    machine) and everything still running when the notice ends is killed outright."""
    now = time.time()
    notice = d / "preemption-notice"
    notice.write_text(json.dumps({"at": now, "deadline": now + notice_seconds}))
    jobs = job_pids(d)
    if notice_seconds > 0:
        for pid in jobs:
            _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + notice_seconds
    while time.monotonic() < deadline and (alive(server_pid, d) or any(_pid_alive(p) for p in jobs)):
        time.sleep(0.05)
    # The record first, as a cloud's preemption operation exists before the machine is gone:
    # a server seen dead is then never seen without it (that would read as a user's STOPPED).
    (d / "preempted.json").write_text(json.dumps({"at": time.time()}))
    for pid in set(jobs + job_pids(d)) | ({server_pid} if alive(server_pid, d) else set()):
        _signal_group(pid, signal.SIGKILL)


def job_pids(d: Path) -> list[int]:
    """Process groups of the live job attempts on this instance (wrapper and command)."""
    pids = [read_pid(f) for f in (d / "jobs").glob("*.pid")]
    return [pid for pid in pids if pid and _pid_alive(pid)]


def _pid_alive(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    stat = Path(f"/proc/{pid}/stat")
    try:
        return not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def start_job(d: Path, job, restart: int, gpus: str | None) -> None:
    """Start one attempt through the job wrapper, detached; once per (run_id, restart).
    It runs from nbctl's carried runtime, as on every machine: checked against its sha256 and
    unpacked under the instance's folder; a runtime that fails the check ends the attempt,
    with the reason as its status, and nothing of it runs."""
    from nbctl_cloud.runtime.carry import install, report_failure
    from nbctl_cloud.runtime_bundle import carried
    jobs = d / "jobs"
    jobs.mkdir(exist_ok=True)
    marker = jobs / f"{job.run_id}.{restart}.started"
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        return  # this attempt was started already
    workdir, git = job.workdir or str(d / "work"), []
    if job.git_url:  # jobwrap clones it there; a clone that fails ends the attempt, with why
        src = jobs / job.run_id / "src"
        src.mkdir(parents=True, exist_ok=True)
        workdir, git = str(src), ["--git-url", job.git_url]
    job = carried(job)
    try:
        runtime = install(job.runtime_url, job.runtime_sha256, str(d / "runtime"))
    except (OSError, ValueError) as e:
        report_failure(job.status_url, job.run_id, restart, f"cannot run nbctl's runtime: {e}")
        return
    # the runtime first: the job imports the checkpoint helper from it, as on a cloud machine
    path = os.pathsep.join(p for p in (runtime, os.environ.get("PYTHONPATH")) if p)
    env = dict(os.environ, NBCTL_CHECKPOINT_URL=job.checkpoint_url, PYTHONPATH=path)
    env["CUDA_VISIBLE_DEVICES"] = gpus if gpus is not None else ""
    cmd = [sys.executable, "-m", "nbctl_cloud.runtime.jobwrap", "--status-url", job.status_url,
           "--run-id", job.run_id, "--restart", str(restart), "--log",
           str(jobs / f"{job.run_id}.{restart}.log"), *git, "--", *job.command]
    # The wrapper's group: SIGTERM reaches the command. Its own output goes to its --log.
    spawn(cmd, jobs / f"{job.run_id}.pid", Path(os.devnull), cwd=workdir, env=env)


def stop_job(d: Path, run_id: str) -> None:
    pid = read_pid(d / "jobs" / f"{run_id}.pid")
    if pid and _pid_alive(pid):
        _signal_group(pid, signal.SIGTERM)
