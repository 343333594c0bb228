import os
import stat
import subprocess
import sys

import pytest
from nbctl_cloud.errors import BusyError, UserError
from nbctl_cloud.model import Instance, InstanceSpec, State
from nbctl_cloud.store import SCHEMA_VERSION, Store
from sqlalchemy import create_engine, text


def inst(name="a", state=State.RUNNING):
    return Instance(name=name, provider="local", state=state, gpu="none")


def test_state_file_is_created_private(nbctl_home):
    Store()
    path = nbctl_home / "data" / "state.db"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_schema_is_versioned():
    assert Store().schema_version() == SCHEMA_VERSION


def test_newer_schema_is_refused_with_advice(tmp_path):
    url = f"sqlite:///{tmp_path}/s.db"
    Store(url)
    with create_engine(url).begin() as c:
        c.execute(text("UPDATE meta SET value='999' WHERE key='schema_version'"))
    with pytest.raises(UserError, match="upgrade nbctl"):
        Store(url)


def test_state_url_selects_another_database(tmp_path, monkeypatch):
    monkeypatch.setenv("NBCTL_STATE_URL", f"sqlite:///{tmp_path}/other.db")
    Store().save(inst())
    assert (tmp_path / "other.db").exists()


def test_save_records_state_changes_in_history():
    s = Store()
    s.save(inst(), InstanceSpec(name="a", provider="local"))
    s.save(inst(state=State.STOPPED))
    s.save(inst(state=State.STOPPED))
    kinds = [(e["kind"], e["state"]) for e in s.events("a")]
    assert kinds == [("created", "RUNNING"), ("state", "STOPPED")]
    assert s.get("a").spec.name == "a"


def test_remove_deletes_the_row_and_keeps_history():
    s = Store()
    s.save(inst())
    s.remove("a", "local")
    assert s.get("a") is None
    assert s.events("a")[-1]["kind"] == "deleted"


def test_lock_refuses_a_live_holder_in_another_process():
    s = Store()
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        import socket
        import time

        from nbctl_cloud.store import locks
        with s.engine.begin() as c:
            c.execute(locks.insert().values(key="k", holder=f"{socket.gethostname()}:{holder.pid}",
                                            acquired_at=time.time(), expires_at=time.time() + 60))
        with pytest.raises(BusyError, match=f"pid {holder.pid}"):
            with s.lock("k", what="`nbctl up a`"):
                pass
    finally:
        holder.kill()
        holder.wait()


def test_lock_of_a_dead_process_is_taken_over():
    s = Store()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    import socket
    import time

    from nbctl_cloud.store import locks
    with s.engine.begin() as c:
        c.execute(locks.insert().values(key="k", holder=f"{socket.gethostname()}:{dead.pid}",
                                        acquired_at=time.time(), expires_at=time.time() + 60))
    with s.lock("k"):
        pass


def test_lock_is_released_after_use():
    s = Store()
    with s.lock("k"):
        pass
    with s.lock("k"):
        pass


def test_a_version_1_store_is_migrated_in_place(tmp_path):
    from nbctl_cloud import store as store_mod
    from sqlalchemy import inspect
    url = f"sqlite:///{tmp_path}/old.db"
    engine = create_engine(url)
    with engine.begin() as c:  # what nbctl with schema 1 left behind, with one instance
        store_mod.MIGRATIONS[1](c)
        c.execute(store_mod.meta.insert().values(key="schema_version", value="1"))
        c.execute(store_mod.instances.insert().values(
            name="kept", provider="local", state="RUNNING", gpu_count=0, preemptible=False,
            created_at=1.0, updated_at=1.0, state_since=1.0))
    engine.dispose()
    s = Store(url)
    assert s.schema_version() == SCHEMA_VERSION >= 2
    assert "jobs" in inspect(s.engine).get_table_names()
    assert s.get("kept") is not None


def job_spec(run_id="r1"):
    from nbctl_cloud.model import JobSpec
    return JobSpec(run_id=run_id, instance=InstanceSpec(name="a", provider="local"),
                   command=["true"], checkpoint_url="/tmp/ck")


def test_a_new_job_is_stored_starting_with_no_restarts():
    from nbctl_cloud.model import JobState
    s = Store()
    s.add_job(job_spec(), "local")
    job = s.job("r1")
    assert (job.spec, job.state, job.restarts, job.preemptions) == \
        (job_spec(), JobState.STARTING, 0, 0)
    assert s.job("missing") is None


def test_only_unfinished_jobs_are_active():
    from nbctl_cloud.model import JobState
    s = Store()
    s.add_job(job_spec("done"), "local")
    s.add_job(job_spec("live"), "local")
    s.update_job("done", state=JobState.SUCCEEDED, exit_code=0)
    assert [j.spec.run_id for j in s.jobs()] == ["done", "live"]
    assert [j.spec.run_id for j in s.jobs(active_only=True)] == ["live"]


def test_update_job_refuses_the_columns_with_their_own_claims():
    s = Store()
    s.add_job(job_spec(), "local")
    with pytest.raises(ValueError, match="lease_holder, restarts"):
        s.update_job("r1", restarts=5, lease_holder="me")
    assert s.job("r1").restarts == 0


def test_a_job_lease_is_held_by_one_controller_until_it_expires():
    s = Store()
    s.add_job(job_spec(), "local")
    assert s.lease_job("r1", "a", now=100.0, seconds=60)
    assert not s.lease_job("r1", "b", now=120.0, seconds=60)
    assert s.lease_job("r1", "a", now=130.0, seconds=60)  # its holder renews it
    assert not s.lease_job("r1", "b", now=189.0, seconds=60)
    assert s.lease_job("r1", "b", now=191.0, seconds=60)  # expired at 190


def test_a_released_lease_is_free_at_once_and_only_its_holder_releases_it():
    s = Store()
    s.add_job(job_spec(), "local")
    assert s.lease_job("r1", "a", now=100.0, seconds=60)
    s.release_job("r1", "b")  # not b's to give up
    assert not s.lease_job("r1", "b", now=101.0, seconds=60)
    s.release_job("r1", "a")  # `controller --once` is done with it
    assert s.lease_job("r1", "b", now=102.0, seconds=60)


def test_one_restart_is_claimed_per_interruption_across_stores(store_url):
    import threading

    from nbctl_cloud.model import JobState
    Store(store_url).add_job(job_spec(), "local")
    barrier = threading.Barrier(4)
    won = []

    def controller():
        s = Store(store_url)  # its own engine and connections, as another process would have
        barrier.wait()
        won.append(s.claim_restart("r1", 0, preempted=True))

    threads = [threading.Thread(target=controller) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(won) == [False, False, False, True]
    job = Store(store_url).job("r1")
    assert (job.restarts, job.preemptions, job.state) == (1, 1, JobState.RECOVERING)


def test_a_fire_is_claimed_once_and_only_on_a_fire_column():
    from nbctl_cloud.model import Schedule
    s = Store()
    s.save_schedule("a", "local", Schedule(tz="UTC", stop="0 19 * * *"), "scheduler")
    assert s.claim_fire("a", "last_stop_at", 1000.0)
    assert not s.claim_fire("a", "last_stop_at", 1000.0)
    assert s.claim_fire("a", "last_stop_at", 2000.0)
    with pytest.raises(ValueError, match="tz"):
        s.claim_fire("a", "tz", 3000.0)


def test_a_natively_run_schedule_is_never_claimed():
    from nbctl_cloud.model import Schedule
    s = Store()
    s.save_schedule("a", "gcp", Schedule(tz="UTC", stop="0 19 * * *"), "native")
    assert not s.claim_fire("a", "last_stop_at", 1000.0)
