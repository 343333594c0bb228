"""The `local` provider: a real Jupyter server on this machine, the default that needs no cloud.

Its "cloud" is a folder per instance under the data dir (instance.json, the token file,
work/ with the notebooks, server.log); the server runs as a detached background process bound
to 127.0.0.1 with a random token. `stop` ends the process and keeps the files, `start` brings
it back on the same folder, `delete` removes the folder.

`--preemptible` simulates preemption for demos and tests: with NBCTL_LOCAL_PREEMPT_AFTER (or
config `preempt_after`) set to a duration such as "90s", or a range such as "30s-5m" for a
random point in it, counted from the moment the server answers, a watchdog announces a
preemption notice and then kills the server.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import ClassVar

from nbctl_cloud.errors import UserError
from nbctl_cloud.model import (
    Capability,
    Instance,
    InstanceSpec,
    JobSpec,
    Offer,
    Preemption,
    State,
)
from nbctl_cloud.provider import (
    Jobs,
    NativeIdleShutdown,
    NotebookUrl,
    PreemptionRecord,
    Provider,
    Spot,
    StopStart,
    match_labels,
)

from . import process

STARTUP_TIMEOUT = 120.0


class LocalProvider(Provider, StopStart, NativeIdleShutdown, NotebookUrl, Spot,
                    PreemptionRecord, Jobs):
    name = "local"
    needs_gpu = False  # this machine's CPU is fine; --gpu pins local GPUs
    reasons = {
        Capability.NATIVE_SCHEDULE: "the local provider has no scheduler of its own; "
                                    "`nbctl scheduler` runs its schedules",
    }
    name_pattern = r"[a-z0-9][a-z0-9_-]{0,62}"
    name_rule = "1-63 characters: lowercase letters, digits, '-' and '_', starting with a letter or digit"
    poll_interval: ClassVar[float] = 0.25
    shares_filesystem: ClassVar[bool] = True

    def __init__(self, config: dict | None = None, owner: str = "nbctl"):
        super().__init__(config, owner)
        from nbctl_cloud.config import data_dir
        self.root = Path(self.config.get("root") or data_dir() / "local")

    # -- checks ------------------------------------------------------------------------
    def offers(self, gpu: str | None = None, count: int | None = None,
               spot: bool = False) -> list[Offer]:
        """This machine, free, for the GPU asked for (whether it has it is checked at `up`);
        nothing to list without one: it sells no GPU."""
        if gpu is None or count is None:
            return []
        return [Offer(provider="local", gpu=gpu, count=count,
                      instance_type="this machine", gpu_memory_gb=0, on_demand_hourly=0.0,
                      spot_hourly=0.0, price_date="-", source="your own machine")]

    def validate_spec(self, spec: InstanceSpec) -> None:
        for given, option, why in ((spec.image, "--image", "it runs this machine's Python"),
                                   (spec.disk_gb, "--disk-gb", "it uses this machine's disk"),
                                   (spec.region or spec.zones, "--region/--zone",
                                    "it runs on this machine")):
            if given:
                raise UserError(f"{option} has no meaning on the local provider ({why}): drop "
                                f"it, or choose a cloud with --provider")
        if spec.gpu_count:
            process.pick_gpus(spec.gpu, spec.gpu_count)  # raises UserError if not here
        if spec.preemptible:
            process.preempt_window(self.config)  # a malformed window fails before creating

    # -- folders -----------------------------------------------------------------------
    def _dir(self, name: str) -> Path:
        self.validate_name(name)
        return self.root / name

    def _meta(self, name: str) -> dict | None:
        try:
            return json.loads((self._dir(name) / "instance.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def _write_meta(self, name: str, meta: dict) -> None:
        path = self._dir(name) / "instance.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(meta, indent=2, sort_keys=True))
        os.replace(tmp, path)

    # -- verbs -------------------------------------------------------------------------
    def create(self, spec: InstanceSpec) -> Instance:
        """Start Jupyter for the spec in its own folder, whose instance.json keeps spec.labels;
        returns at once. That file is the request's idempotency key: a retried create of the
        same spec (the same labels) finds it and starts no second server."""
        self.validate_spec(spec)
        made = self._meta(spec.name)
        if made is not None and made.get("labels") == dict(spec.labels):
            return self.get(spec.name) or self._instance(made, State.PROVISIONING)
        d = self._dir(spec.name)
        (d / "work").mkdir(parents=True, exist_ok=True)
        os.chmod(d, 0o700)
        process.write_token(d)
        meta = {"name": spec.name, "labels": dict(spec.labels), "created_at": time.time(),
                "gpu": spec.gpu, "gpu_count": spec.gpu_count, "preemptible": spec.preemptible,
                "idle_timeout": spec.idle_timeout,
                "cuda_visible_devices": process.pick_gpus(spec.gpu, spec.gpu_count)}
        self._write_meta(spec.name, meta)
        self._launch(spec.name, meta)
        return self.get(spec.name) or self._instance(meta, State.PROVISIONING)

    def _launch(self, name: str, meta: dict) -> None:
        """Start the server and its helpers. The intent (port, start time) is written first,
        and each process writes its own pid file before it runs (process.spawn): an nbctl
        killed at any moment leaves a server that `get`, `start`, `stop` and `delete` find."""
        d = self._dir(name)
        self._terminate(name, meta, roles=("preempter", "agent"))  # a crashed launch's helpers
        for stale in ("pid", "agent_pid", "preempter_pid", "stopped_at"):
            meta.pop(stale, None)
        meta["port"] = process.free_port()
        meta["started_at"] = time.time()
        meta["culling"] = meta.get("idle_timeout")  # what this server's Jupyter culls after
        for marker in ("preempted.json", "preemption-notice"):
            (d / marker).unlink(missing_ok=True)
        self._write_meta(name, meta)
        pid = meta["pid"] = process.start_server(
            d, meta["port"], idle_timeout=meta.get("idle_timeout"),
            cuda_visible_devices=meta.get("cuda_visible_devices"))
        if meta.get("idle_timeout"):
            meta["agent_pid"] = process.start_agent(d, meta["port"], pid, int(meta["idle_timeout"]))
        if meta.get("preemptible"):
            window = process.preempt_window(self.config)
            if window:
                meta["preempter_pid"] = process.start_preempter(d, pid, meta["port"], window)
            else:
                self.note(f"{name}: no preemption is simulated until NBCTL_LOCAL_PREEMPT_AFTER "
                          f"(or config preempt_after) is set, e.g. 30s-5m")
        self._write_meta(name, meta)

    def _pid(self, name: str, meta: dict, role: str) -> int | None:
        """The pid of one of the instance's processes: the pid file its child wrote, else
        (an instance folder an older version made) what instance.json recorded."""
        old_key = "pid" if role == "server" else f"{role}_pid"
        return process.read_pid(process.pid_file(self._dir(name), role)) or meta.get(old_key)

    def _terminate(self, name: str, meta: dict, roles=process.ROLES) -> None:
        for role in roles:
            process.terminate(self._pid(name, meta, role), self._dir(name))

    def _server_alive(self, name: str, meta: dict) -> bool:
        return process.alive(self._pid(name, meta, "server"), self._dir(name))

    def get(self, name: str) -> Instance | None:
        meta = self._meta(name)
        if meta is None:
            return None
        return self._instance(meta, self._state(name, meta))

    def idle_seconds(self, name: str) -> float | None:
        meta = self._meta(name)
        if meta is None or not meta.get("port") or not self._server_alive(name, meta):
            return None
        since = process.last_activity(meta["port"], process.read_token(self._dir(name)))
        return max(time.time() - since, 0.0) if since is not None else None

    def _state(self, name: str, meta: dict) -> State:
        d = self._dir(name)
        if self._server_alive(name, meta):
            if process.answers(meta["port"], process.read_token(d)):
                return State.RUNNING
            if time.time() - meta.get("started_at", 0) > STARTUP_TIMEOUT:
                return State.FAILED
            return State.PROVISIONING
        if (d / "preempted.json").exists():
            return State.PREEMPTED
        if meta.get("stopped_at") or process.server_started(d):
            return State.STOPPED
        return State.FAILED  # died before it ever answered

    def _instance(self, meta: dict, state: State) -> Instance:
        name = meta["name"]
        detail = None
        if state is State.FAILED:
            detail = process.last_log_line(self._dir(name))
        elif state is State.STOPPED and not meta.get("stopped_at"):
            detail = process.idle_stop_reason(self._dir(name))
        url = f"http://127.0.0.1:{meta['port']}/" if meta.get("port") else None
        return Instance(name=name, provider=self.name, state=state,
                        native_id=str(self._pid(name, meta, "server") or ""), zone="localhost",
                        gpu=meta.get("gpu"), gpu_count=meta.get("gpu_count", 0),
                        preemptible=bool(meta.get("preemptible")), backend="jupyter",
                        url=url, labels=meta.get("labels", {}), detail=detail,
                        created_at=datetime.fromtimestamp(meta["created_at"], timezone.utc))

    def list(self, labels: dict[str, str] | None = None) -> list[Instance]:
        if not self.root.exists():
            return []
        found = []
        for d in sorted(self.root.iterdir()):
            inst = self.get(d.name) if (d / "instance.json").exists() else None
            if inst and match_labels(inst.labels, labels):
                found.append(inst)
        return found

    def stop(self, name: str) -> None:
        meta = self._meta(name)
        if meta is None:
            raise UserError(f"no local instance named {name!r}: see `nbctl list`")
        self._terminate(name, meta)
        meta["stopped_at"] = time.time()
        self._write_meta(name, meta)

    def start(self, name: str) -> None:
        meta = self._meta(name)
        if meta is None:
            raise UserError(f"no local instance named {name!r}: see `nbctl list`")
        if self._server_alive(name, meta):
            return
        self._launch(name, meta)

    def delete(self, name: str) -> None:
        meta = self._meta(name)
        d = self._dir(name)
        if meta is not None or d.exists():  # a folder whose instance.json never got written too
            self._terminate(name, meta or {})
            for pid in process.job_pids(d):
                process.terminate(pid, d)
        shutil.rmtree(d, ignore_errors=True)

    def set_idle_shutdown(self, name: str, timeout_seconds: int | None) -> None:
        """Takes effect at once: the agent, which stops the server, is restarted with the new
        timeout. Jupyter's culling of idle kernels follows at the next start."""
        meta = self._meta(name)
        if meta is None:
            raise UserError(f"no local instance named {name!r}: see `nbctl list`")
        d = self._dir(name)
        self._terminate(name, meta, roles=("agent",))
        meta.pop("agent_pid", None)
        running = self._server_alive(name, meta)
        if running and meta.get("culling") != timeout_seconds:
            self.note(f"{name}: Jupyter's culling of idle kernels keeps its old setting until "
                      f"`nbctl stop {name}` and `nbctl start {name}`")
        meta["idle_timeout"] = timeout_seconds
        if timeout_seconds and running:
            meta["agent_pid"] = process.start_agent(d, meta["port"], self._pid(name, meta, "server"),
                                                    timeout_seconds)
        self._write_meta(name, meta)

    def preemptions(self, since: datetime) -> list[Preemption]:
        out = []
        for inst in self.list():
            marker = self._dir(inst.name) / "preempted.json"
            try:
                at = datetime.fromtimestamp(json.loads(marker.read_text())["at"], timezone.utc)
            except (FileNotFoundError, json.JSONDecodeError, KeyError):
                continue
            if at >= since:
                out.append(Preemption(inst.name, inst.native_id, "localhost", at,
                                      "local preemption simulator"))
        return out

    def preempt(self, name: str, notice_seconds: float = 0.0) -> None:
        """Preempt now, as the simulator would: a notice, then the server is killed."""
        meta = self._meta(name)
        if meta is None:
            raise UserError(f"no local instance named {name!r}: see `nbctl list`")
        process.preempt(self._dir(name), self._pid(name, meta, "server"), notice_seconds)

    def run_job(self, name: str, job, restart: int) -> None:
        meta = self._meta(name)
        if meta is None or not self._server_alive(name, meta):
            raise UserError(f"local instance {name!r} is not running: `nbctl start {name}` first")
        process.start_job(self._dir(name), job, restart, gpus=meta.get("cuda_visible_devices"))

    def cancel_job(self, name: str, job: JobSpec) -> None:
        if self._meta(name) is not None:
            process.stop_job(self._dir(name), job.run_id)

    def notebook_url(self, name: str) -> str:
        meta = self._meta(name)
        if meta is None or not meta.get("port"):
            raise UserError(f"no local instance named {name!r}: see `nbctl list`")
        token = process.read_token(self._dir(name))
        return f"http://127.0.0.1:{meta['port']}/{process.ui_path()}?token={token}"
