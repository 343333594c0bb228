"""What the Kaggle provider keeps of a job on this computer, in the job's folder (its status_url,
under nbctl's data folder): per attempt, `kaggle-<N>.json` (the version pushed, its session id,
when, and when nbctl's runtime was to stop it) and, once its session has ended, `status-<N>.json`
(in jobwrap's shape, as the other clouds' jobs keep it) and `log-<N>.txt`. Nothing here is a
secret, and nothing here talks to Kaggle."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from nbctl_cloud.model import JobSpec
from nbctl_cloud.runtime.kaggle_session import CHECKPOINT_DIR


def _folder(job: JobSpec) -> Path:
    return Path(job.status_url)


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)  # a reader never sees half a file


def pushed(job: JobSpec, restart: int) -> dict | None:
    return _read(_folder(job) / f"kaggle-{restart}.json")


def save_pushed(job: JobSpec, restart: int, record: dict) -> None:
    _write(_folder(job) / f"kaggle-{restart}.json", json.dumps(record, sort_keys=True))


def latest(job: JobSpec) -> dict | None:
    found = sorted(_folder(job).glob("kaggle-*.json"),
                   key=lambda p: int(p.stem.split("-")[1]) if p.stem.split("-")[1].isdigit()
                   else -1)
    return _read(found[-1]) if found else None


def owner(job: JobSpec) -> str | None:
    first = pushed(job, 0)
    return first.get("owner") if first else None


def ended(job: JobSpec, restart: int) -> dict | None:
    status = _read(_folder(job) / f"status-{restart}.json")
    return status if status and status.get("state") == "exited" else None


def output_paths(job: JobSpec, restart: int) -> dict[str, str]:
    """Where, in a version's output, nbctl's runtime left the attempt's status and its stop."""
    base = f"{CHECKPOINT_DIR}/_nbctl/{job.run_id}"
    return {"status": f"{base}/status-{restart}.json", "limit": f"{base}/limit-{restart}.json"}


def log_text(raw: str | None) -> str | None:
    """Kaggle's log (a JSON list of {"stream_name", "time", "data"}) as the text it holds."""
    if not raw:
        return None
    try:
        entries = json.loads(raw)
    except ValueError:
        return raw
    if not isinstance(entries, list):
        return raw
    return "".join(str(e.get("data", "")) for e in entries if isinstance(e, dict))


def log(job: JobSpec, restart: int) -> str | None:
    try:
        return (_folder(job) / f"log-{restart}.txt").read_text()
    except OSError:
        return None


def save_ended(job: JobSpec, restart: int, state: str, failure: str | None,
               found: dict[str, bytes], raw_log: str, quota_out: bool) -> dict:
    """The attempt's final status, from what its version left in its output and how Kaggle says
    its session ended; kept with its log, so an ended attempt is never asked about again."""
    def parsed(key: str) -> dict | None:
        try:
            return json.loads(found[key]) if key in found else None
        except ValueError:
            return None

    status, stop = parsed("status") or {}, parsed("limit")
    if status.get("state") != "exited":
        detail = ("the session was cancelled on Kaggle" if state.startswith("CANCEL") else
                  f"Kaggle ended the session ({state}): {failure or 'it gave no reason'}")
        status = dict(status, state="exited", exit_code=None, ended_at=time.time(),
                      detail=detail)
    if stop is not None:
        status.update(session_limit=True, detail=f"nbctl stopped it {stop.get('after', 0):.0f} s "
                                                 f"into its session, ahead of Kaggle's limit")
    elif quota_out:
        status.update(session_limit=True,
                      detail="Kaggle stopped the session: the GPU quota ran out")
    elif state == "ERROR" and failure and status.get("exit_code") not in (None, 0):
        status["detail"] = (f"the command exited with code {status['exit_code']}; "
                            f"Kaggle: {failure}")
    status["kaggle_state"] = state
    _write(_folder(job) / f"log-{restart}.txt", log_text(raw_log) or "")
    _write(_folder(job) / f"status-{restart}.json", json.dumps(status, sort_keys=True))
    return status


def hours(job: JobSpec, restarts: int) -> float:
    """Hours the job's command ran in Kaggle sessions, over its ended attempts."""
    total = 0.0
    for n in range(restarts + 1):
        s = ended(job, n) or {}
        if s.get("started_at") and s.get("ended_at"):
            total += max(s["ended_at"] - s["started_at"], 0.0)
    return total / 3600
