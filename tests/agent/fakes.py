"""Fakes the agent talks to (and how tests run it): a Jupyter REST API, the GCE and EC2 metadata servers, nvidia-smi.

The fakes are stateful (tests change kernels, terminals and notices while the agent runs) and
check request shapes the way the real servers do: Jupyter wants `Authorization: token T`,
GCE metadata refuses a request without `Metadata-Flavor: Google`, EC2 IMDSv2 refuses a GET
without a token obtained by PUT.
"""
from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from tests.conftest import wait_for  # noqa: F401 - the agent tests' wait, from here too

AGENT = Path(__file__).resolve().parents[2] / "orchestrator" / "runtime" / "nbctl_agent.py"
TOKEN = "t0k3n-for-tests"


def jupyter_time(seconds_ago: float) -> str:
    """A timestamp as Jupyter writes it: ISO-8601 UTC, microseconds, "Z"."""
    t = datetime.now(timezone.utc) - timedelta(seconds=seconds_ago)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def kernel(kid: str = "k1", *, state: str = "idle", ago: float = 3600, connections: int = 0):
    """A kernel model shaped like GET /api/kernels."""
    return {"id": kid, "name": "python3", "last_activity": jupyter_time(ago),
            "execution_state": state, "connections": connections}


def terminal(name: str = "1", *, ago: float = 3600):
    """A terminal model shaped like GET /api/terminals."""
    return {"name": name, "last_activity": jupyter_time(ago)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Server:
    """A ThreadingHTTPServer on 127.0.0.1 with a random port, serving in a daemon thread."""

    def __init__(self, handler, port: int = 0, tls: ssl.SSLContext | None = None):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.httpd.fake = self
        if tls:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.httpd.server_address[1]}"
        self.requests: list[tuple[str, str, dict]] = []
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep test output quiet
        pass

    def reply(self, code: int, body: str | bytes = b"", ctype: str = "application/json"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def record(self):
        headers = {k.lower(): v for k, v in self.headers.items()}  # HTTP names are caseless
        self.server.fake.requests.append((self.command, self.path, headers))


class FakeJupyter(_Server):
    """GET /api/status, /api/kernels, /api/terminals, with token auth.

    Set `.kernels`, `.terminals`, `.api_activity` (time of the last API request a user made),
    or `.fail_with` (an HTTP code for every request) at any time."""

    def __init__(self, token: str | None = TOKEN, port: int = 0,
                 tls: ssl.SSLContext | None = None):
        self.token = token
        self.kernels: list[dict] = []
        self.terminals: list[dict] | None = []  # None: terminals disabled (404)
        self.api_activity = jupyter_time(3600)
        self.fail_with: int | None = None
        super().__init__(_JupyterHandler, port, tls)


class _JupyterHandler(_Handler):
    def do_GET(self):
        self.record()
        fake: FakeJupyter = self.server.fake
        if fake.fail_with:
            return self.reply(fake.fail_with, '{"message": "Service Unavailable"}')
        if fake.token and self.headers.get("Authorization") != f"token {fake.token}":
            return self.reply(403, '{"message": "Forbidden", "reason": null}')
        path = urlsplit(self.path).path
        if path == "/api/status":
            return self.reply(200, json.dumps({
                "started": jupyter_time(7200),
                "last_activity": max([fake.api_activity] + [  # the server's own rule
                    m["last_activity"] for m in fake.kernels + (fake.terminals or [])]),
                "kernels": len(fake.kernels),
                "connections": sum(k["connections"] for k in fake.kernels)}))
        if path == "/api/kernels":
            return self.reply(200, json.dumps(fake.kernels))
        if path == "/api/terminals" and fake.terminals is not None:
            return self.reply(200, json.dumps(fake.terminals))
        return self.reply(404, '{"message": "Not Found", "reason": null}')


class FakeMetadata(_Server):
    """GCE `instance/preempted` and EC2 IMDSv2 `spot/instance-action`.

    `.preempted` flips GCE's answer to TRUE; `.ec2_notice` (a dict) ends EC2's 404s."""

    EC2_TOKEN = "AQAEAimds-token=="

    def __init__(self):
        self.preempted = False
        self.ec2_notice: dict | None = None
        super().__init__(_MetadataHandler)


class _MetadataHandler(_Handler):
    def do_PUT(self):
        self.record()
        if self.path != "/latest/api/token":
            return self.reply(404, "Not Found", "text/plain")
        if not self.headers.get("X-aws-ec2-metadata-token-ttl-seconds", "").isdigit():
            return self.reply(400, "Bad Request", "text/plain")
        self.reply(200, FakeMetadata.EC2_TOKEN, "text/plain")

    def do_GET(self):
        self.record()
        fake: FakeMetadata = self.server.fake
        if self.path == "/computeMetadata/v1/instance/preempted":
            if self.headers.get("Metadata-Flavor") != "Google":
                return self.reply(403, "Missing required header: Metadata-Flavor", "text/html")
            return self.reply(200, "TRUE" if fake.preempted else "FALSE", "application/text")
        if self.path == "/latest/meta-data/spot/instance-action":
            if self.headers.get("X-aws-ec2-metadata-token") != FakeMetadata.EC2_TOKEN:
                return self.reply(401, "Unauthorized", "text/plain")
            if fake.ec2_notice is None:
                return self.reply(404, "Not Found", "text/html")
            return self.reply(200, json.dumps(fake.ec2_notice), "text/plain")
        self.reply(404, "Not Found", "text/html")


def run_agent(*args: str, env: dict | None = None, timeout: float = 20,
              state_file: Path | None = None) -> tuple[subprocess.CompletedProcess, dict]:
    """Run the agent as a machine does (its own interpreter, no nbctl on the path); return
    the finished process and the state file it wrote."""
    full_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    full_env.update(env or {})
    argv = [sys.executable, str(AGENT), *args]
    if state_file is not None:
        argv += ["--state-file", str(state_file)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=full_env)
    state = json.loads(state_file.read_text()) if state_file and state_file.exists() else {}
    return proc, state


def start_agent(*args: str, env: dict | None = None) -> subprocess.Popen:
    """Start the agent in its loop; the caller waits for it or kills it."""
    full_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    full_env.update(env or {})
    return subprocess.Popen([sys.executable, str(AGENT), *args], env=full_env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def agent_state(path: Path) -> dict:
    """The agent's state file as it last wrote it ({} before its first write)."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}


def wait_for_checks(path: Path, checks: int, timeout: float = 60) -> dict:
    """Wait until the agent has made `checks` idle checks (its state file counts them);
    return its state then. The agent checks at most once per --interval, so N checks prove
    it watched for at least (N - 1) intervals, however slowly this machine runs."""
    wait_for(lambda: agent_state(path).get("checks", 0) >= checks, timeout,
             what=f"the agent's idle check number {checks} in {path}")
    return agent_state(path)


FAKE_JUPYTER_LAB = """\
import json, os, sys, time
sys.path.insert(0, {repo!r})
from tests.agent.fakes import FakeJupyter
opts = dict(a[2:].split("=", 1) for a in sys.argv[1:] if "=" in a)
with open({record!r}, "a") as f:
    f.write(json.dumps({{"argv": sys.argv[1:], "token_in_env": bool(os.environ.get("JUPYTER_TOKEN"))}}) + "\\n")
FakeJupyter(token=os.environ["JUPYTER_TOKEN"], port=int(opts["port"]))
while True:
    time.sleep(1)
"""


def install_fake_jupyter_lab(bindir: Path, record: Path) -> Path:
    """A `jupyter-lab` executable serving FakeJupyter on its --port with $JUPYTER_TOKEN, and
    appending its argv to `record`, so a start-up script can be run end to end."""
    exe = bindir / "jupyter-lab"
    repo = str(Path(__file__).resolve().parents[2])
    exe.write_text(f"#!{sys.executable}\n" + FAKE_JUPYTER_LAB.format(repo=repo, record=str(record)))
    exe.chmod(0o755)
    return exe


def self_signed_tls(folder: Path) -> ssl.SSLContext:
    """A server TLS context with a fresh self-signed certificate, as SageMaker's Jupyter has."""
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx
