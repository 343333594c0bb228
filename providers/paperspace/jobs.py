"""Jobs on Paperspace machines: nbctl hands a job attempt to the machine through the job's storage.

Paperspace machines have no metadata service and no tags, and a startup script runs only when a
machine boots. So the attempt goes to a mailbox in the job's storage, `<status_url>/launch.json`
(the attempt's JSON, rewritten for each attempt), and the machine's startup script (its marker
script, see marker.py) runs nbctl's job launcher (nbctl_cloud.runtime.job_launcher,
`--source mailbox`) watching that file. The first attempt of a job on a machine rewrites the
script (PUT /startup-scripts/{id}) and restarts the machine (PATCH /machines/{id}/restart) so
that the launcher starts; later attempts (after a stop under the job) only rewrite the mailbox.
`cancel_job` deletes the mailbox, and the launcher sends the job SIGTERM.

A machine running a job keeps its notebook's idle timeout in nbctl's agent only, which counts a
running job as busy: Paperspace's own auto-shutdown, which knows nothing of jobs, is turned off
(`autoShutdownEnabled` false) when the job starts.
"""
from __future__ import annotations

from typing import TYPE_CHECKING


if TYPE_CHECKING:  # pragma: no cover
    from nbctl_cloud.model import JobSpec

    from .machines import Machines

MAILBOX = "launch.json"
HOME = "/home/paperspace"  # ML-in-a-Box's user: a job without a working directory runs here
RUNNING = ("ready", "serviceready")


def mailbox(job: "JobSpec") -> str:
    return f"{job.status_url}/{MAILBOX}"


def boot_script(name: str, job: "JobSpec", requirements: list[str]) -> str:
    """The machine's startup script with the job launcher watching this job's mailbox."""
    from nbctl_cloud.bootscript import JOB_DIR, POWER_OFF, launcher_section, startup_script
    from nbctl_cloud.tunnel import instance_key

    from .machines import STOP_COMMAND
    from .settings import JUPYTER_PORT
    script = startup_script(stop_command=STOP_COMMAND, idle_timeout=job.instance.idle_timeout,
                            jupyter_port=JUPYTER_PORT, job_dir=JOB_DIR,
                            authorized_key=instance_key("paperspace", name)[1],
                            fallback_stop_command=POWER_OFF)
    return script + launcher_section(source="mailbox", metadata_url=None, home=HOME,
                                     mailbox_url=mailbox(job), requirements=tuple(requirements))


def run_job(machines: "Machines", name: str, job: "JobSpec", restart: int) -> None:
    """Write attempt `restart` to the mailbox; for a machine new to this job, point its startup
    script at the mailbox and restart it. The same attempt twice writes the same file."""
    import fsspec

    from nbctl_cloud.runtime_bundle import write_attempt
    f = machines.require(name)
    fs, path = fsspec.core.url_to_fs(mailbox(job))
    new_here = restart == 0 or not fs.exists(path)
    fields = write_attempt(job, restart, mailbox(job))
    machines.api.call("PUT", f"machines/{f.machine['id']}", body={"autoShutdownEnabled": False})
    if new_here:
        machines.api.call("PUT", f"startup-scripts/{f.script['id']}", body={
            "name": f.marker.script_name, "script": boot_script(name, job, fields["requirements"]),
            "isRunOnce": False})
        if f.machine.get("state") in RUNNING:
            machines.api.call("PATCH", f"machines/{f.machine['id']}/restart")


def cancel_job(job: "JobSpec") -> None:
    """Delete the job's mailbox: the launcher then SIGTERMs it. Gone already: no-op."""
    import fsspec
    fs, path = fsspec.core.url_to_fs(mailbox(job))
    try:
        fs.rm_file(path)
    except FileNotFoundError:
        pass
