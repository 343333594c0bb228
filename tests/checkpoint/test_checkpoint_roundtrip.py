"""Saving and loading: what goes in comes back, bit for bit and type for type; keep-K pruning."""
from __future__ import annotations

import json
import os
import random

import numpy as np
import pytest
from nbctl_cloud.errors import UserError
from nbctl_cloud.runtime.checkpoint import Checkpoint, Checkpointer

from tests.checkpoint.helpers import names_under


def ck_at(url, **kw) -> Checkpointer:
    kw.setdefault("handle_sigterm", False)
    return Checkpointer(url, **kw)


def nested_state(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "params": {"w": rng.normal(size=(8, 5)), "b": np.arange(5, dtype=np.float32)},
        "layers": [rng.integers(0, 9, size=3), {"gain": 0.1 + seed}],
        "step_seconds": 1.25, "epoch": 3, "done": False, "name": "mlp", "nothing": None,
    }


def test_nested_numpy_state_round_trips_exactly(any_url):
    state = nested_state()
    ck = ck_at(any_url)
    ck.save(state, 7)
    state_back, step = ck_at(any_url).load_latest()
    assert step == 7
    np.testing.assert_array_equal(state_back["params"]["w"], state["params"]["w"])
    assert state_back["params"]["b"].dtype == np.float32
    np.testing.assert_array_equal(state_back["layers"][0], state["layers"][0])
    assert state_back["layers"][1] == {"gain": 0.1}
    assert {k: state_back[k] for k in ("step_seconds", "epoch", "done", "name", "nothing")} == \
        {"step_seconds": 1.25, "epoch": 3, "done": False, "name": "mlp", "nothing": None}


def test_load_latest_returns_the_newest_step(any_url):
    ck = ck_at(any_url)
    for step in (10, 30, 20):
        ck.save(nested_state(step), step)
    restored = ck_at(any_url).load_latest()
    assert isinstance(restored, Checkpoint)
    assert restored.step == 30
    np.testing.assert_array_equal(restored.state["params"]["w"], nested_state(30)["params"]["w"])


def test_empty_storage_loads_nothing(tmp_path):
    assert ck_at(str(tmp_path / "nothing-yet")).load_latest() is None


def test_scalars_keep_their_numpy_types_and_bits(tmp_path):
    state = {"f64": np.float64(0.1), "f32": np.float32(1 / 3), "i8": np.int8(-7),
             "flag": np.bool_(True), "py_float": 0.1 + 0.2, "big": 2 ** 100, "nan": float("nan")}
    ck = ck_at(str(tmp_path))
    ck.save(state, 1)
    back = ck.load_latest().state
    for key in ("f64", "f32", "i8", "flag"):
        assert type(back[key]) is type(state[key]), key
        assert back[key].tobytes() == state[key].tobytes(), key
    assert back["py_float"] == 0.1 + 0.2 and type(back["py_float"]) is float
    assert back["big"] == 2 ** 100
    assert np.isnan(back["nan"])


def test_tuples_bytes_and_non_string_keys_survive(tmp_path):
    state = {"t": (1, (2, "x")), "raw": b"\x00\xff", "by_int": {3: "c", (1, 2): "pair"},
             "__nbctl__": "a user key that looks like ours"}
    ck = ck_at(str(tmp_path))
    ck.save(state, 1)
    assert ck.load_latest().state == state


def test_random_generators_resume_the_same_sequence(tmp_path):
    gen = np.random.default_rng(42)
    gen.normal(size=10)
    random.seed(7)
    state = {"numpy": gen.bit_generator.state, "python": random.getstate()}
    ck = ck_at(str(tmp_path))
    ck.save(state, 1)
    expected_np, expected_py = gen.normal(size=5), [random.random() for _ in range(5)]

    back = ck.load_latest().state
    resumed = np.random.default_rng()
    resumed.bit_generator.state = back["numpy"]
    random.setstate(back["python"])
    assert resumed.normal(size=5).tobytes() == expected_np.tobytes()
    assert [random.random() for _ in range(5)] == expected_py


def test_non_contiguous_and_fortran_arrays_round_trip(tmp_path):
    base = np.arange(60, dtype=np.int64).reshape(6, 10)
    state = {"strided": base[::2, ::3], "fortran": np.asfortranarray(base), "empty": np.zeros((0, 4)),
             "zero_d": np.array(5.5)}
    ck = ck_at(str(tmp_path))
    ck.save(state, 1)
    back = ck.load_latest().state
    for key, arr in state.items():
        assert back[key].shape == arr.shape and back[key].dtype == arr.dtype, key
        np.testing.assert_array_equal(back[key], arr)


def test_restored_arrays_are_writable(tmp_path):
    ck = ck_at(str(tmp_path))
    ck.save({"w": np.ones(4)}, 1)
    w = ck.load_latest().state["w"]
    w += 1  # training goes on updating in place
    assert w.tolist() == [2.0] * 4


def test_arrays_are_stored_as_npy_files(tmp_path):
    ck = ck_at(str(tmp_path))
    ck.save({"w": np.arange(3.0)}, 1)
    (prefix,) = [p for p in os.listdir(tmp_path) if p.startswith("step-")]
    (npy,) = [f for f in os.listdir(tmp_path / prefix) if f.endswith(".npy")]
    assert np.load(tmp_path / prefix / npy, allow_pickle=False).tolist() == [0.0, 1.0, 2.0]


def test_object_arrays_are_refused_with_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="pickle"):
        ck_at(str(tmp_path)).save({"bad": np.array([{"a": 1}], dtype=object)}, 1)


def test_unsupported_values_are_named_in_the_error(tmp_path):
    with pytest.raises(UserError, match=r"opt/lr.*set"):
        ck_at(str(tmp_path)).save({"opt": {"lr": {1, 2}}}, 1)


def test_state_must_be_a_dict(tmp_path):
    with pytest.raises(UserError, match="dict"):
        ck_at(str(tmp_path)).save([1, 2], 1)


@pytest.mark.parametrize("step", [-1, 1.5, True, "3"])
def test_step_must_be_a_whole_number(tmp_path, step):
    with pytest.raises(UserError, match="step"):
        ck_at(str(tmp_path)).save({"a": 1}, step)


@pytest.mark.parametrize("keep", [0, -2, 1.5])
def test_keep_must_be_positive(tmp_path, keep):
    with pytest.raises(UserError, match="keep"):
        ck_at(str(tmp_path), keep=keep)


def test_no_url_anywhere_is_a_user_error(monkeypatch):
    monkeypatch.delenv("NBCTL_CHECKPOINT_URL", raising=False)
    with pytest.raises(UserError, match="NBCTL_CHECKPOINT_URL"):
        Checkpointer(handle_sigterm=False)


def test_url_defaults_to_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("NBCTL_CHECKPOINT_URL", str(tmp_path / "from-env"))
    Checkpointer(handle_sigterm=False).save({"a": 1}, 3)
    assert os.listdir(tmp_path / "from-env" / "manifests") == ["000000000003.json"]


def test_manifest_records_every_file_with_size_and_checksum(tmp_path):
    monkey_state = {"w": np.ones(100), "v": np.zeros(3)}
    ck_at(str(tmp_path)).save(monkey_state, 12)
    manifest = json.loads((tmp_path / "manifests" / "000000000012.json").read_text())
    assert manifest["step"] == 12 and manifest["prefix"].startswith("step-000000000012-")
    for f in manifest["files"]:
        assert os.path.getsize(tmp_path / f["path"]) == f["size"]
        assert isinstance(f["crc32"], int)
    assert {os.path.basename(f["path"]) for f in manifest["files"]} == \
        {"a00000.npy", "a00001.npy", "tree.json"}


# -- keep-K pruning ---------------------------------------------------------------------------------

def test_only_the_last_keep_checkpoints_remain(any_url):
    ck = ck_at(any_url, keep=2)
    for step in range(1, 6):
        ck.save({"w": np.full(3, step)}, step)
    assert ck.steps() == [5, 4]
    prefixes = [n for n in names_under(any_url) if n.startswith("step-")]
    assert sorted(int(n[len("step-"):len("step-") + 12]) for n in prefixes) == [4, 5]


def test_a_blocking_save_returns_with_the_checkpoint_durable(tmp_path):
    ck = ck_at(str(tmp_path))
    ck.save({"a": 1}, 1)
    assert os.listdir(tmp_path / "manifests") == ["000000000001.json"]  # before any wait()


def test_keep_none_keeps_every_checkpoint(tmp_path):
    ck = ck_at(str(tmp_path), keep=None)
    for step in range(1, 6):
        ck.save({"a": step}, step)
    assert ck.steps() == [5, 4, 3, 2, 1]


def test_files_of_a_save_that_never_finished_are_removed_later(tmp_path):
    orphan = tmp_path / "step-000000000002-0123456789abcdef"
    orphan.mkdir(parents=True)
    (orphan / "a00000.npy").write_bytes(b"half a file")
    ck = ck_at(str(tmp_path), keep=2)
    ck.save({"a": 1}, 3)
    ck.wait()  # old files go in the background
    assert not orphan.exists()


def test_a_killed_save_of_a_later_step_is_left_until_training_passes_it(tmp_path):
    later = tmp_path / "step-000000000009-0123456789abcdef"
    later.mkdir(parents=True)
    ck = ck_at(str(tmp_path), keep=2)
    ck.save({"a": 1}, 3)
    ck.wait()
    assert later.exists()
    ck.save({"a": 1}, 10)
    ck.wait()
    assert not later.exists()


def test_pruning_leaves_other_files_under_the_url_alone(tmp_path):
    (tmp_path / "_nbctl" / "run-1").mkdir(parents=True)
    (tmp_path / "_nbctl" / "run-1" / "status-0.json").write_text("{}")
    ck = ck_at(str(tmp_path), keep=1)
    for step in range(1, 4):
        ck.save({"a": step}, step)
    ck.wait()
    assert (tmp_path / "_nbctl" / "run-1" / "status-0.json").read_text() == "{}"


def test_saving_a_step_again_replaces_its_checkpoint(tmp_path):
    ck = ck_at(str(tmp_path), keep=3)
    ck.save({"a": "first"}, 5)
    ck.save({"a": "second"}, 5)
    ck.wait()
    assert ck_at(str(tmp_path)).load_latest().state == {"a": "second"}
    assert len([n for n in os.listdir(tmp_path) if n.startswith("step-")]) == 1


def test_in_a_job_each_save_records_its_step_for_the_dashboard(tmp_path, monkeypatch):
    monkeypatch.setenv("NBCTL_RUN_ID", "job1-x")
    monkeypatch.setenv("NBCTL_RESTART", "2")
    ck = ck_at(str(tmp_path), keep=1)
    for step in (10, 20, 30):
        ck.save({"step": step}, step)
    ck.wait()
    record = json.loads((tmp_path / "_nbctl" / "job1-x" / "steps-2.json").read_text())
    assert [s for _, s in record["points"]] == [10, 20, 30]  # pruning keeps them all
    times = [t for t, _ in record["points"]]
    assert times == sorted(times)


def test_outside_a_job_no_steps_are_recorded(tmp_path, monkeypatch):
    monkeypatch.delenv("NBCTL_RUN_ID", raising=False)
    ck_at(str(tmp_path)).save({"step": 1}, 1)
    assert not (tmp_path / "_nbctl").exists()
