"""A stateful fake of Kaggle's kernels API on loopback, speaking kagglesdk's wire protocol.

Requests are `POST /api/v1/kernels.KernelsApiService/<Method>` with a camelCase JSON body, as
kagglesdk sends them when KAGGLE_API_ENVIRONMENT=LOCALHOST (or env=KaggleEnv.LOCAL) and its
endpoint table row for LOCAL (`kagglesdk.kaggle_env._env_to_endpoint`) holds this server's
`url`: kagglesdk has no other way to change its endpoint (reference.py, [sdk]).

Served: SaveKernel, GetKernelSessionStatus, ListKernelSessionOutput,
GetAcceleratorQuotaStatistics, CancelKernelSession, DeleteKernel (kernels.py). Every call needs
`Authorization: Basic base64(username:key)` of a known user, or `Bearer <token>` of a known
token, else 401. A body field the method's message does not have, or of the wrong JSON type, is
refused 400 and kept in `violations`; a method the service does not have is 404, one the fake
does not serve 501. Errors have [sdk]'s shape {"code": status, "message": text}.

Each pushed version runs for real (sessions.py), in <root>/<owner>/<slug>/<version>/ under the
emulator's `root`. Output files are served, without credentials as Kaggle's signed URLs are, at
the `url`s ListKernelSessionOutput hands out.

Where Kaggle's behaviour is not documented, the fake chooses, and a client must not lean on the
choice: a session stopped at its limit ends ERROR with a failureMessage (its partial output
kept); a kernel source mounts the source's latest COMPLETE version (`attach_failed_outputs`: any
ended one), a kernel may name itself; a GPU push with no quota left is refused in `error`, and a
running session whose quota runs out is stopped as at the limit; `versionLabel` is a version
number; CancelKernelSession's id is the `scriptVersionId` in SaveKernel's `url` (no answer of
the API carries a session id); versions of one kernel may run at the same time.

Controls: `image` (where the image's python is made: one folder may serve many fakes),
`hour_seconds` (what one of Kaggle's hours lasts here: session limits and quota scale by it),
`grace_seconds` (SIGTERM to SIGKILL at a limit or a cancel), `queue_seconds`,
`attach_failed_outputs`, `set_quota(...)`, `refresh_quota()`, `session(owner, slug, version)`.
"""
from __future__ import annotations

import base64
import binascii
import json
import shutil
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ..guest import image_python
from .kernels import ApiError, Kernels
from .reference import (BOOL, INT, QUOTA_WINDOW_HOURS, REQUESTS, SERVICE, STR, STRS,
                        UNAUTHENTICATED, UNKNOWN_TEXT, UNSERVED)
from .sessions import Runner, Session

__all__ = ["KaggleEmulator", "ApiError"]

_CHECKS = {STR: lambda v: isinstance(v, str),
           INT: lambda v: isinstance(v, int) and not isinstance(v, bool),
           BOOL: lambda v: isinstance(v, bool),
           STRS: lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v)}


class KaggleEmulator(Kernels):
    """The fake API on loopback: `start()`, point kagglesdk at `url`, `stop()`."""

    def __init__(self, *, users: dict[str, str] | None = None,
                 tokens: dict[str, str] | None = None, root: Path | None = None,
                 image: Path | None = None,
                 hour_seconds: float = 3600.0, grace_seconds: float = 5.0,
                 queue_seconds: float = 0.0, attach_failed_outputs: bool = False,
                 host: str = "127.0.0.1", port: int = 0):
        self.users = dict(users or {"kaggler": "kg-test-key"})       # username -> API key
        self.tokens = dict(tokens or {"kgat-test-token": "kaggler"})  # access token -> user
        self._own_root = root is None
        self.base = Path(root or tempfile.mkdtemp(prefix="kaggle-fake-"))
        self.hour_seconds = hour_seconds
        self.attach_failed_outputs = attach_failed_outputs
        self.requests: list[dict] = []
        self.violations: list[dict] = []
        self._lock = threading.RLock()
        image = image or self.base / ".image-python"  # the image's python: made once, there
        self.runner = Runner(lambda: image_python(image), self._lock,
                             grace=grace_seconds, queue_seconds=queue_seconds,
                             ended=self._session_ended, over_quota=self._over_quota)
        self._init_kernels()
        self._server = ThreadingHTTPServer((host, port), _handler(self))
        self._server.daemon_threads = True

    # -- life ---------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The endpoint, as kagglesdk's table holds one: it adds /api/v1/<service>/<Method>."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def env(self, user: str | None = None) -> dict[str, str]:
        """Variables for a process that talks to this fake: Kaggle's own (the environment
        that selects the LOCAL endpoint row, the user's key) and NBCTL_KAGGLE_API_URL, the
        URL to put in that row."""
        user = user or next(iter(self.users))
        return {"KAGGLE_API_ENVIRONMENT": "LOCALHOST", "NBCTL_KAGGLE_API_URL": self.url,
                "KAGGLE_USERNAME": user, "KAGGLE_KEY": self.users[user]}

    def start(self) -> "KaggleEmulator":
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving; every live session is killed (and waited for)."""
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            live = [s for s in self.sessions.values() if s.live]
            for session in live:
                self.runner.kill(session)
        deadline = time.monotonic() + 30
        while any(s.live for s in live):
            if time.monotonic() > deadline:
                raise TimeoutError("fake Kaggle sessions did not end within 30 s of a SIGKILL")
            time.sleep(0.02)
        if self._own_root:
            shutil.rmtree(self.base, ignore_errors=True)

    # -- test controls --------------------------------------------------------------------------
    def set_quota(self, *, gpu_hours: float | None = None, tpu_hours: float | None = None,
                  refresh_in: float | None = None) -> None:
        """The weekly allowance (Kaggle hours) and, with `refresh_in`, the real seconds until
        the quota refreshes (then every week of scaled hours)."""
        with self._lock:
            for kind, hours in (("gpu", gpu_hours), ("tpu", tpu_hours)):
                if hours is not None:
                    self.quota_hours[kind] = hours
            if refresh_in is not None:
                self._window_end = time.time() + refresh_in

    def refresh_quota(self) -> None:
        """The weekly refresh, now: nothing used; the next one a scaled week later."""
        with self._lock:
            self._refresh(QUOTA_WINDOW_HOURS * self.hour_seconds)

    def session(self, owner: str, slug: str, version: int | None = None) -> Session:
        """A version's session (the latest without `version`): its root, status, log."""
        with self._lock:
            versions = self.kernels[(owner, slug)]["versions"]
            return versions[-1] if version is None else versions[version - 1]

    def calls(self, method: str) -> list[dict]:
        with self._lock:
            return [dict(r) for r in self.requests if r["method"] == method]

    # -- request handling -------------------------------------------------------------------------
    def handle_post(self, path: str, headers, raw_body: bytes) -> tuple[int, dict]:
        prefix = f"/api/v1/{SERVICE}/"
        if not path.startswith(prefix):
            return 404, {"code": 404, "message": f"Not found: {path} {UNKNOWN_TEXT}"}
        method = path[len(prefix):]
        record = {"method": method, "body": None, "user": None}
        with self._lock:
            self.requests.append(record)
            try:
                record["user"] = user = self._user(headers.get("Authorization", ""))
                record["body"] = body = self._body(method, raw_body)
                answer = getattr(self, "_" + method)(user, body)
                record["status"] = 200
                return 200, answer
            except ApiError as e:
                record["status"] = e.status
                return e.status, e.body()

    def _user(self, authorization: str) -> str:
        scheme, _, credentials = authorization.partition(" ")
        if scheme == "Bearer" and credentials in self.tokens:
            return self.tokens[credentials]
        if scheme == "Basic":
            try:
                user, _, key = base64.b64decode(credentials, validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                user, key = "", None
            if user in self.users and self.users[user] == key:
                return user
        raise ApiError(401, UNAUTHENTICATED)

    def _body(self, method: str, raw: bytes) -> dict:
        if method in UNSERVED:
            raise ApiError(501, f"{method} is not served by the fake Kaggle API")
        fields = REQUESTS.get(method)
        if fields is None:
            raise ApiError(404, f"No method {method} on {SERVICE} {UNKNOWN_TEXT}")
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            problems = ["the body is not a JSON object"]
        else:
            problems = [f"unknown field {k!r}" if k not in fields else
                        f"{k!r} must be a {fields[k]}" for k, v in body.items()
                        if k not in fields or not _CHECKS[fields[k]](v)]
        if problems:
            self.violations.append({"method": method, "problems": problems, "body": body})
            raise ApiError(400, f"Invalid {method} request: {'; '.join(problems)} "
                                f"{UNKNOWN_TEXT}")
        return body

    def output_file(self, path: str) -> bytes | None:
        """The bytes at an output URL's path (/_output/<session id>/<file>), or None."""
        _, _, rest = path.partition("/_output/")
        session_id, _, name = unquote(rest).partition("/")
        with self._lock:
            session = self.sessions.get(int(session_id)) if session_id.isdigit() else None
            if session is None or session.live or name not in session.outputs:
                return None
            return (session.working / name).read_bytes()


def _handler(emulator: KaggleEmulator):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            pass

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            status, body = emulator.handle_post(urlsplit(self.path).path, self.headers, raw)
            self._send(status, json.dumps(body).encode(), "application/json")

        def do_GET(self):
            path = urlsplit(self.path).path
            data = emulator.output_file(path) if path.startswith("/_output/") else None
            if data is None:
                self._send(404, json.dumps({"code": 404, "message": "Not found"}).encode(),
                           "application/json")
            else:
                self._send(200, data, "application/octet-stream")

        def _send(self, status: int, data: bytes, content_type: str):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler
