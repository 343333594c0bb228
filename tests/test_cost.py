from nbctl_cloud.cost import summarize

H = 3600.0


def ev(at, kind, state=None, detail=None, name="nb", provider="gcp"):
    return {"at": at, "kind": kind, "state": state, "detail": detail, "name": name,
            "provider": provider}


SPEC = {"nb": {"provider": "gcp", "gpu": "t4", "gpu_count": 1, "preemptible": True}}


def test_running_hours_are_priced_from_the_catalog():
    rows = summarize([ev(0, "created", "RUNNING"), ev(2 * H, "state", "STOPPED")], SPEC,
                     since=0, now=10 * H)
    assert rows[0]["hours"] == 2.0 and rows[0]["hourly"] == 0.18 and rows[0]["cost"] == 0.36


def test_time_stopped_by_a_schedule_counts_as_saved_until_the_next_start():
    events = [ev(0, "created", "RUNNING"), ev(1 * H, "stop", detail="schedule 0 19 * * * UTC"),
              ev(1 * H, "state", "STOPPED"), ev(13 * H, "start", detail="user"),
              ev(13 * H, "state", "RUNNING")]
    row = summarize(events, SPEC, since=0, now=14 * H)[0]
    assert row["hours"] == 2.0
    assert row["saved_hours_schedule"] == 12.0 and row["saved_hours_idle"] == 0.0
    assert row["saved"] == round(12 * 0.18, 2)


def test_a_user_stop_saves_nothing():
    events = [ev(0, "created", "RUNNING"), ev(1 * H, "stop", detail="user"),
              ev(1 * H, "state", "STOPPED")]
    row = summarize(events, SPEC, since=0, now=5 * H)[0]
    assert row["saved_hours_schedule"] == row["saved_hours_idle"] == 0.0


def test_idle_stops_seen_as_state_changes_count_as_idle_savings():
    events = [ev(0, "created", "RUNNING"), ev(H, "state", "STOPPED", detail="idle: idle for 2700 s")]
    row = summarize(events, SPEC, since=0, now=3 * H)[0]
    assert row["saved_hours_idle"] == 2.0


def test_a_deleted_instance_is_priced_from_its_created_event_and_backend():
    events = [ev(0, "created", "RUNNING", detail='{"gpu": "t4", "gpu_count": 1, '
                                                 '"preemptible": false, "backend": "workbench"}'),
              ev(H, "deleted", "DELETED")]
    row = summarize(events, {}, since=0, now=2 * H)[0]
    assert row["hours"] == 1.0 and row["hourly"] == 0.60


def test_the_window_clips_history():
    events = [ev(0, "created", "RUNNING")]
    row = summarize(events, SPEC, since=9 * H, now=10 * H)[0]
    assert row["hours"] == 1.0


def test_the_days_of_the_money_page_add_up_to_nbctl_cost_over_the_same_span(tmp_path):
    import json as _json
    import time as _time
    from datetime import datetime, timedelta

    from sqlalchemy import insert

    from nbctl_cloud.cost import per_day, report
    from nbctl_cloud.store import Store, events
    store = Store(f"sqlite:///{tmp_path}/state.db")
    now = _time.time()
    machine = _json.dumps({"provider": "local", "gpu": "none", "gpu_count": 0})
    with store.engine.begin() as conn:  # 47 hours up, across three calendar days
        for at, kind, state, detail in ((now - 50 * H, "created", "RUNNING", machine),
                                        (now - 3 * H, "state", "STOPPED", None)):
            conn.execute(insert(events).values(at=at, name="a", provider="local", kind=kind,
                                               state=state, detail=detail))
    days = per_day(store, 4, now=now)
    first = datetime.fromtimestamp(now).replace(hour=0, minute=0, second=0,
                                                microsecond=0) - timedelta(days=3)
    whole = report(store, now - first.timestamp(), now=now)
    assert [d["day"] for d in days][0] == first.date().isoformat() and len(days) == 4
    assert abs(sum(r["hours"] for d in days for r in d["rows"]) - whole[0]["hours"]) < 1e-3
    assert abs(whole[0]["hours"] - 47.0) < 1e-3
