"""An EC2 instance's instance metadata service (IMDS), as the instance reaches it.

The emulated instance's processes have this server as their HTTP proxy (http_proxy), so they
ask `http://169.254.169.254/latest/...` exactly as on EC2. References, EC2 User Guide:
- "How Instance Metadata Service Version 2 works" (instance-metadata-v2-how-it-works.html):
  `PUT /latest/api/token` with `X-aws-ec2-metadata-token-ttl-seconds` (1 to 21600) answers a
  session token; GETs carry it in `X-aws-ec2-metadata-token`. A PUT with `X-Forwarded-For` is
  refused.
- "Access instance metadata" (instancedata-data-retrieval.html), its error codes: 400 for a
  PUT that is not valid, 401 for a GET with an invalid (or expired) token, 403 when IMDS is
  turned off (MetadataOptions HttpEndpoint disabled), 404 for what is not there. With
  HttpTokens required a GET without a token is 401; with optional it is IMDSv1 and answered.
- "Instance metadata categories" (instancedata-data-categories.html): instance-id, ami-id,
  instance-type, instance-life-cycle (spot / on-demand), placement/availability-zone,
  placement/region, spot/instance-action, spot/termination-time, events/recommendations/
  rebalance; `/latest/user-data`; `/latest/dynamic/instance-identity/document`.
- "Spot Instance interruption notices" and "EC2 instance rebalance recommendations": see spot.py.
- "View tags for your EC2 instances using instance metadata" (work-with-tags-in-IMDS.html):
  `tags/instance` lists the keys and `tags/instance/<key>` is the value, only with
  MetadataOptions InstanceMetadataTags enabled; otherwise the category is absent (404).

Besides IMDS, `POST /emulator/poweroff` is what a power-off from inside the guest does (see
instances_boot.py): not an IMDS path, only the emulated hardware's power button.
"""
from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import urlsplit

HOSTS = ("169.254.169.254", "[fd00:ec2::254]")  # IMDS's IPv4 and IPv6 addresses
TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN_HEADER = "X-aws-ec2-metadata-token"
MAX_TTL = 21600


def user_data_bytes(inst) -> bytes | None:
    """The instance's user data as the instance sees it (moto keeps it base64)."""
    value = getattr(inst, "user_data", None)
    if isinstance(value, list):  # older moto kept a list
        value = value[0] if value else None
    if value is None:
        return None
    raw = value.as_bytes() if hasattr(value, "as_bytes") else value
    return base64.b64decode(raw if isinstance(raw, bytes) else str(raw).encode())


class Imds:
    """One instance's IMDS for one boot: its tokens live as long as the boot does.

    `instance()` gives moto's Instance (None once it is gone), `region` its region;
    `poweroff()` is called for a power-off from inside the guest."""

    def __init__(self, instance: Callable[[], object], region: str,
                 poweroff: Callable[[], None]):
        self.instance = instance
        self.region = region
        self.poweroff = poweroff
        self.tokens: dict[str, float] = {}  # token -> when it expires (monotonic)
        self.requests: list[tuple[str, str, int]] = []  # (verb, path, status), for tests
        self.server = self._serve()

    @property
    def proxy(self) -> str:
        """What the instance's processes get as http_proxy."""
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        server, self.server = self.server, None
        if server is not None:
            threading.Thread(target=_close, args=(server,), daemon=True).start()

    # -- answers ---------------------------------------------------------------------------
    def answer(self, verb: str, raw: str, headers) -> tuple[int, bytes, dict]:
        status, body, extra = self._answer(verb, raw, headers)
        self.requests.append((verb, urlsplit(raw).path, status))
        return status, body, extra

    def _answer(self, verb: str, raw: str, headers) -> tuple[int, bytes, dict]:
        parts = urlsplit(raw)  # through the proxy the request line holds the whole URL
        if parts.netloc and parts.netloc.split(":")[0] not in HOSTS \
                and not parts.netloc.startswith("[fd00:ec2::254]"):
            return 502, b"the emulated instance reaches only its metadata service", {}
        inst = self.instance()
        if inst is None:
            return 404, b"", {}
        if verb == "POST" and parts.path == "/emulator/poweroff":
            self.poweroff()
            return 200, b"", {}
        if inst.metadata_options.http_endpoint == "disabled":
            return 403, b"Forbidden", {}
        if verb == "PUT":
            return self._token(parts.path, headers)
        if verb != "GET":
            return 405, b"Method Not Allowed", {"Allow": "GET, PUT"}
        token = headers.get(TOKEN_HEADER)
        if token is not None:
            if self.tokens.get(token, 0.0) <= time.monotonic():
                return 401, b"Unauthorized", {}
        elif inst.metadata_options.http_tokens == "required":
            return 401, b"Unauthorized", {}
        value = self.value(inst, parts.path)
        return (404, b"Not Found", {}) if value is None else (200, value, {})

    def _token(self, path: str, headers) -> tuple[int, bytes, dict]:
        if path != "/latest/api/token":
            return 405, b"Method Not Allowed", {"Allow": "GET"}
        if headers.get("X-Forwarded-For") is not None:
            return 403, b"Forbidden", {}
        ttl = headers.get(TTL_HEADER, "")
        if not ttl.isdigit() or not 1 <= int(ttl) <= MAX_TTL:
            return 400, b"Bad Request", {}
        token = base64.b64encode(secrets.token_bytes(42)).decode()
        now = time.monotonic()
        self.tokens = {t: exp for t, exp in self.tokens.items() if exp > now}
        self.tokens[token] = now + int(ttl)
        return 200, token.encode(), {TTL_HEADER: ttl}

    def value(self, inst, path: str) -> bytes | None:
        """What a GET of `path` answers, or None (404)."""
        if path == "/latest/user-data":
            return user_data_bytes(inst)
        if path == "/latest/dynamic/instance-identity/document":
            return json.dumps(self._identity(inst), indent=2).encode()
        prefix = "/latest/meta-data"
        if path != prefix and not path.startswith(prefix + "/"):
            return None
        key = path[len(prefix):].strip("/")
        items = self.items(inst)
        if key in items:
            return items[key].encode()
        # a category: its entries, one a line, a sub-category with a trailing slash
        below = {k[len(key) + 1:] if key else k for k in items
                 if not key or k.startswith(key + "/")}
        if not below:
            return None
        names = sorted({n.split("/")[0] + ("/" if "/" in n else "") for n in below})
        return "\n".join(names).encode()

    def items(self, inst) -> dict[str, str]:
        """The instance's meta-data categories, by path below /latest/meta-data/."""
        spot = getattr(inst, "spot_instance_request_id", None) is not None
        out = {
            "ami-id": inst.image_id,
            "instance-id": inst.id,
            "instance-type": inst.instance_type,
            "instance-life-cycle": "spot" if spot else "on-demand",
            "placement/availability-zone": inst.placement.zone,
            "placement/region": self.region,
            "local-ipv4": getattr(inst, "private_ip", "") or "",
        }
        notice = getattr(inst, "interruption_notice", None)
        if notice:
            out["spot/instance-action"] = json.dumps(notice)
            if notice["action"] == "terminate":
                out["spot/termination-time"] = notice["time"]
        rebalance = getattr(inst, "rebalance_notice", None)
        if rebalance:
            out["events/recommendations/rebalance"] = json.dumps(rebalance)
        if inst.metadata_options.instance_metadata_tags == "enabled":
            for tag in inst.get_tags():
                out[f"tags/instance/{tag['key']}"] = tag["value"]
        return out

    def _identity(self, inst) -> dict:
        return {"accountId": inst.ec2_backend.account_id, "architecture": "x86_64",
                "availabilityZone": inst.placement.zone, "imageId": inst.image_id,
                "instanceId": inst.id, "instanceType": inst.instance_type,
                "privateIp": getattr(inst, "private_ip", None), "region": self.region,
                "version": "2017-09-30"}

    # -- the server ------------------------------------------------------------------------
    def _serve(self) -> ThreadingHTTPServer:
        imds = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):
                pass

            def do_GET(self):
                self._reply("GET")

            def do_PUT(self):
                self._reply("PUT")

            def do_POST(self):
                self._reply("POST")

            def do_DELETE(self):
                self._reply("DELETE")

            def _reply(self, verb: str):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                status, body, extra = imds.answer(verb, self.path, self.headers)
                try:
                    self.send_response(status)
                    for k, v in {"Content-Type": "text/plain", **extra}.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the instance was powered off meanwhile

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True, name="imds").start()
        return server


def _close(server: ThreadingHTTPServer) -> None:
    server.shutdown()
    server.server_close()
