"""nbctl's job attempt inside a Kaggle kernel session: the body of the script nbctl pushes.

Kaggle runs one source file per kernel version, with no access to the job's storage and no
network unless asked for, so the Kaggle provider pushes this file with the attempt appended:
its settings as JSON, nbctl's carried runtime (nbctl_cloud.runtime_bundle) and the packed
working directory, both base64, and a call of `main`. In the session it

1. unpacks the runtime into a folder of the session's own and the working directory into
   /kaggle/working (the folder Kaggle keeps as the version's output);
2. carries the checkpoints forward: the previous version's output is attached to this one as
   an input (/kaggle/input/<slug>/, or deeper where Kaggle nests it), and its
   `nbctl-checkpoint` folder, found by the job's run id in it, is copied to
   /kaggle/working/nbctl-checkpoint, where the job's checkpoints go (NBCTL_CHECKPOINT_URL), so
   that this version's output holds them in turn;
3. runs the command through jobwrap, which keeps the attempt's status in
   nbctl-checkpoint/_nbctl/<run_id>/status-<N>.json (the controller reads it from the output);
4. `stop_after` seconds after the session began (ahead of the session's limit, or of the end
   of the GPU quota left), sends the job the usual SIGTERM notice, gives it `grace` seconds to
   save a checkpoint, then kills what is left, and writes limit-<N>.json beside the status;
5. exits 0 when the command succeeded or left on a notice (so the version's output can be
   attached to the next one), 1 when it failed: Kaggle then shows the version as failed.

Paths start at NBCTL_ROOT when it is set (an emulated session's sandbox), else at /.
Standard library only: nothing of nbctl is installed in a Kaggle image.
"""
import base64
import glob
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time

CHECKPOINT_DIR = "nbctl-checkpoint"


def kaggle_paths():
    root = os.environ.get("NBCTL_ROOT", "")
    return root + "/kaggle/working", root + "/kaggle/input"


def previous_checkpoints(inputs, run_id):
    """The nbctl-checkpoint folder of an attached earlier version of this job, or None."""
    for depth in range(1, 5):
        pattern = os.path.join(inputs, *(["*"] * depth), CHECKPOINT_DIR, "_nbctl", run_id)
        for found in sorted(glob.glob(pattern)):
            return os.path.dirname(os.path.dirname(found))
    return None


def unpack(data, folder):
    with tarfile.open(fileobj=io.BytesIO(base64.b64decode(data)), mode="r:gz") as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(folder, filter="data")
        else:  # pragma: no cover - pythons before 3.8.17 / 3.11.4
            tar.extractall(folder)


def signal_group(pid, sig):
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def main(attempt, runtime, workdir):
    began = time.monotonic()
    run_id, restart = attempt["run_id"], int(attempt["restart"])
    working, inputs = kaggle_paths()
    checkpoints = os.path.join(working, CHECKPOINT_DIR)
    earlier = previous_checkpoints(inputs, run_id)
    if earlier:
        shutil.copytree(earlier, checkpoints, dirs_exist_ok=True)
        print("nbctl: resuming from the checkpoints of the previous version", flush=True)
    status_dir = os.path.join(checkpoints, "_nbctl", run_id)
    os.makedirs(status_dir, exist_ok=True)
    runtime_dir = tempfile.mkdtemp(prefix="nbctl-runtime-")
    unpack(runtime, runtime_dir)
    cmd = [sys.executable, "-m", "nbctl_cloud.runtime.jobwrap", "--status-url", status_dir,
           "--run-id", run_id, "--restart", str(restart)]
    if workdir:
        archive = os.path.join(runtime_dir, "workdir.tar.gz")
        with open(archive, "wb") as f:
            f.write(base64.b64decode(workdir))
        cmd += ["--workdir-url", archive]
    elif attempt.get("git_url"):
        cmd += ["--git-url", attempt["git_url"]]
    cmd += ["--"] + list(attempt["command"])
    env = dict(os.environ, PYTHONPATH=runtime_dir,
               NBCTL_CHECKPOINT_URL=attempt.get("checkpoint_url") or checkpoints)
    proc = subprocess.Popen(cmd, cwd=working, env=env, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = began + float(attempt["stop_after"])
    stopped_at = None
    while proc.poll() is None:
        now = time.monotonic()
        if stopped_at is None and now >= deadline:
            stopped_at = time.time()
            print("nbctl: stopping the job %.0f s into the session, ahead of its limit"
                  % (now - began), flush=True)
            signal_group(proc.pid, signal.SIGTERM)
        elif stopped_at is not None and time.time() - stopped_at >= float(attempt["grace"]):
            signal_group(proc.pid, signal.SIGKILL)
        time.sleep(0.2)
    signal_group(proc.pid, signal.SIGKILL)  # what the command left behind goes with it
    if stopped_at is not None:
        with open(os.path.join(status_dir, "limit-%d.json" % restart), "w") as f:
            json.dump({"stopped_at": stopped_at, "after": attempt["stop_after"]}, f)
    try:
        with open(os.path.join(status_dir, "status-%d.json" % restart)) as f:
            status = json.load(f)
    except (OSError, ValueError):
        status = {}
    code = status.get("exit_code") if status.get("state") == "exited" else None
    ok = code == 0 or stopped_at is not None or status.get("signal") \
        or code == int(attempt["exit_preempted"])
    if not ok:
        print("nbctl: the command failed (exit code %s)" % code, file=sys.stderr, flush=True)
    return 0 if ok else 1
