#!/usr/bin/env python3
"""nbctl's machine agent: stops an idle notebook machine, relays preemption notices.

Standard library only, Python 3.8+. Busy: a kernel busy or connected, kernel/terminal/API
activity within the timeout, a GPU at or over the threshold, a live pid in --job-dir. Jupyter
down, or a listener not of --jupyter-pid-file's pid (sent no token), is idle unless a job or
GPU is busy (one never up: after --startup-grace too). Idle for the timeout: --stop-command
(3 tries, then --fallback-stop-command), record why in --state-file, exit 0; else keep watching.
"""
import argparse
import calendar
import json
import os
import re
import signal
import stat
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

GCE_PATH = "/computeMetadata/v1/instance/preempted"
EC2_TOKEN = "/latest/api/token"
EC2_NOTICE = "/latest/meta-data/spot/instance-action"
EC2_REBALANCE = "/latest/meta-data/events/recommendations/rebalance"
METADATA = {"gce": "http://metadata.google.internal", "ec2": "http://169.254.169.254"}
NOTICE_POLL = 5.0  # a notice gives 30-120 s: poll more often than for idleness
TLS = ssl._create_unverified_context()


def parse_ts(text):
    """Epoch seconds of Jupyter's UTC time ("2026-11-23T02:01:03.123456Z"), or 0."""
    try:
        t = calendar.timegm(time.strptime((text or "")[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return 0
    frac = re.match(r"\.\d+", text[19:])
    return t + float(frac.group() if frac else 0)


def iso(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def http(url, headers=None, method="GET"):
    """(status, body); OSError if unreachable."""
    req = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        # TLS: to this machine's own Jupyter (self-signed on SageMaker)
        with urllib.request.urlopen(req, timeout=5, context=TLS) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def live_pids(job_dir):
    """Pids in job_dir's <run_id>.pid files whose process exists."""
    pids = []
    names = os.listdir(job_dir) if job_dir and os.path.isdir(job_dir) else []
    for name in sorted(n for n in names if n.endswith(".pid")):
        try:  # our own regular files only: no link, no other user's
            fd = os.open(os.path.join(job_dir, name), os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(fd) as f:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid():
                    continue
                pid = int(f.read())
            os.kill(pid, 0)
        except PermissionError:
            pass  # another user's
        except (OSError, ValueError):
            continue
        pids.append(pid)
    return pids


def listener_owned(port, pid):
    """True if every socket listening on TCP `port` is an open file of process `pid`."""
    inodes, own, fds = set(), set(), "/proc/%d/fd/" % pid
    for t in ("tcp", "tcp6"):
        with open("/proc/net/" + t) as f:
            rows = [r.split() for r in f.read().splitlines()[1:]]
        inodes.update(r[9] for r in rows if r[3] == "0A" and int(r[1][-4:], 16) == port)
    for fd in os.listdir(fds):
        try:
            own.add(os.readlink(fds + fd)[8:-1])  # "socket:[INODE]"
        except OSError:
            pass
    return bool(inodes) and inodes <= own


def gpu_busy(threshold):
    """A reason if a GPU is at or over threshold percent, else None."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu",
                              "--format=csv,noheader,nounits"], capture_output=True,
                             text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return None  # no GPU; a broken driver must not keep a machine up
    use = [int(v) for v in out.split() if v.isdigit()]
    if use and max(use) >= threshold:
        return "gpu %d%% >= %g%%" % (max(use), threshold)
    return None


class Agent:
    def __init__(self, opts):
        self.o = opts
        self.state = {"pid": os.getpid(), "idle_timeout": opts.idle_timeout}
        self.last_activity = self.up = None

    def jupyter(self, path):
        pid_file = self.o.jupyter_pid_file
        if pid_file:  # the token goes only to the Jupyter we started
            port = urllib.parse.urlsplit(self.o.jupyter_url).port
            with open(pid_file) as f:
                pid = int(f.read())
            if not listener_owned(port, pid):
                raise OSError("port %d not held by our Jupyter (pid %d)" % (port, pid))
        token = ""
        if os.path.exists(self.o.token_file or ""):
            with open(self.o.token_file) as f:
                token = f.read().strip()
        auth = {"Authorization": "token " + token} if token else {}
        # no_track_activity: our own polling is not a user's activity
        status, body = http(self.o.jupyter_url.rstrip("/") + path + "?no_track_activity=1", auth)
        if status != 200:
            raise OSError("HTTP %d from %s" % (status, path))
        return json.loads(body)

    def observe(self):
        """(busy reasons now, newest activity time Jupyter reports or None)."""
        status = self.jupyter("/api/status")
        kernels = self.jupyter("/api/kernels")
        try:
            terminals = self.jupyter("/api/terminals")
        except OSError:
            terminals = []  # a server may have terminals disabled
        busy, stamps = [], [status.get("last_activity")]
        for k in kernels:
            stamps.append(k.get("last_activity"))
            if k.get("execution_state") == "busy":
                busy.append("kernel %s busy" % k.get("id"))
            if (k.get("connections") or 0) > 0:  # an open tab is someone working
                busy.append("kernel %s connected" % k.get("id"))
        stamps += [t.get("last_activity") for t in terminals]
        return busy + self.machine_busy(), max(map(parse_ts, stamps)) or None

    def machine_busy(self):
        pids = live_pids(self.o.job_dir)
        return list(filter(None, [gpu_busy(self.o.gpu_threshold), pids and "jobs running: %s" % pids]))

    def check_idle(self, now):
        """One idleness check, counted in checks; True once the stop command has run."""
        st = self.state
        st.update(checks=st.get("checks", 0) + 1, checked_at=iso(now))
        down = []
        try:
            busy, seen = self.observe()
        except (OSError, ValueError) as e:  # down or not ours: idle unless the machine works
            busy, seen, down = self.machine_busy(), None, ["jupyter not answering: %s" % e]
        self.up = self.up or not down
        # with no time from Jupyter, the idle clock starts when the agent first looks
        seen = now if busy else seen or self.last_activity or now
        self.last_activity = max(seen, self.last_activity or seen)
        idle_for = now - self.last_activity
        st.update(idle_before=st.get("idle_seconds"), last_activity=iso(self.last_activity),
                  idle_seconds=idle_for, idle=not busy, reasons=busy or down + ["no activity for %.0f s" % idle_for])
        wait = self.o.idle_timeout if self.up else max(self.o.idle_timeout, self.o.startup_grace)
        if busy or self.o.idle_timeout <= 0 or idle_for < wait:
            return False
        st.update(stopped_at=iso(now), stop_reason="idle for %.0f s" % idle_for)
        self.save()  # the stop command may end this machine
        tries = [self.o.stop_command] * 3 + [c for c in [self.o.fallback_stop_command] if c]
        for n, command in enumerate(tries):
            st["stop_exit_code"] = code = subprocess.call(command, shell=True)
            if code == 0:
                return True
            st["stop_error"] = "%r exited %d" % (command, code)
            time.sleep(min(2 ** n, 10) * self.o.stop_retry_delay)
        return False  # keep watching: the next check tries again

    def notice(self):
        """The cloud's preemption notice (a dict) or None; OSError if unreachable."""
        base = (self.o.metadata_url or METADATA[self.o.preemption]).rstrip("/")
        if self.o.preemption == "gce":
            status, body = http(base + GCE_PATH, {"Metadata-Flavor": "Google"})
            return {"action": "preempted"} if status == 200 and body.strip() == "TRUE" else None
        status, token = http(base + EC2_TOKEN, {"X-aws-ec2-metadata-token-ttl-seconds": "300"},
                             "PUT")
        if status != 200:
            raise OSError("HTTP %d for an IMDSv2 token" % status)
        for path in (EC2_NOTICE, EC2_REBALANCE):  # 404 until a notice
            status, body = http(base + path, {"X-aws-ec2-metadata-token": token})
            if status == 200:
                return dict({"action": "rebalance"}, **json.loads(body))
        return None

    def check_preemption(self, now):
        st = self.state
        try:
            notice = self.notice()
            st.pop("preemption_error", None)
        except (OSError, ValueError) as e:
            st["preemption_error"] = str(e)
            return
        if not notice:
            return
        if st.get("preemption", {}).get("action") != notice["action"]:
            st["preemption"] = dict(notice, noticed_at=iso(now))
        if self.o.signal_jobs and st.get("signalled_for") != notice["action"]:  # once a kind
            pids = live_pids(self.o.job_dir)
            for pid in pids:  # each a jobwrap, which leads its attempt's process group
                try:
                    os.killpg(pid, signal.SIGTERM)  # the job gets it from here, once
                except OSError:
                    pass  # ended meanwhile
            st.update(signalled_pids=pids, signalled_at=iso(now), signalled_for=notice["action"])

    def save(self):
        if self.o.state_file:
            tmp = self.o.state_file + ".tmp"
            with open(tmp, "w") as f:
                json.dump(self.state, f, sort_keys=True)
            os.replace(tmp, self.o.state_file)  # readers never see half a file

    def run(self):
        watch = self.o.preemption != "none"
        next_idle = stopped = 0
        while True:
            if watch:
                self.check_preemption(time.time())
            if time.monotonic() >= next_idle:
                next_idle = time.monotonic() + self.o.interval
                stopped = self.check_idle(time.time())
            self.save()
            if stopped or self.o.once:
                return 0
            wait = next_idle - time.monotonic()
            time.sleep(max(0.05, min(NOTICE_POLL, wait) if watch else wait))


def main(argv=None):
    p = argparse.ArgumentParser(prog="nbctl-agent", description=__doc__)
    add = p.add_argument
    add("--jupyter-url", default="http://127.0.0.1:8888")
    add("--token-file")
    add("--idle-timeout", type=float, default=0, help="seconds; 0: never stop")
    add("--interval", type=float, default=60, help="seconds")
    add("--startup-grace", type=float, default=300, help="seconds")
    add("--gpu-threshold", type=float, default=10, help="percent")
    add("--stop-command", default="true")
    add("--fallback-stop-command")
    add("--stop-retry-delay", type=float, default=5, help="seconds, doubled each try")
    add("--jupyter-pid-file")
    add("--state-file")
    add("--job-dir", help="holds <run_id>.pid files")
    add("--preemption", choices=["none", "gce", "ec2"], default="none")
    add("--metadata-url", help="base URL")
    add("--signal-jobs", action="store_true", help="SIGTERM jobs on a notice")
    add("--once", action="store_true")
    return Agent(p.parse_args(argv)).run()


if __name__ == "__main__":
    sys.exit(main())
