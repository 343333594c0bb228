"""PyTorch state dicts go through torch.save and come back through torch.load(weights_only=True)."""
from __future__ import annotations

import pytest
from nbctl_cloud.runtime.checkpoint import Checkpointer

torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch)")


def model_and_optimizer():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    loss = model(torch.randn(16, 4)).pow(2).mean()
    loss.backward()
    optimizer.step()  # the optimizer now has state (moments) to save
    return model, optimizer


def test_model_and_optimizer_state_dicts_round_trip(any_url):
    model, optimizer = model_and_optimizer()
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "rng": torch.get_rng_state(), "epoch": 2}
    Checkpointer(any_url, handle_sigterm=False).save(state, 10)
    back, step = Checkpointer(any_url, handle_sigterm=False).load_latest()
    assert step == 10 and back["epoch"] == 2
    for key, tensor in state["model"].items():
        assert torch.equal(back["model"][key], tensor), key
    fresh_model, fresh_optimizer = model_and_optimizer()
    fresh_optimizer.load_state_dict(back["optimizer"])
    assert fresh_optimizer.state_dict()["param_groups"] == state["optimizer"]["param_groups"]
    assert torch.equal(back["rng"], state["rng"])


def test_async_save_copies_tensors_before_training_changes_them(tmp_path):
    weights = torch.zeros(1000)
    ck = Checkpointer(str(tmp_path), async_save=True, handle_sigterm=False)
    ck.save({"model": {"w": weights}}, 1)
    weights += 3  # the next optimizer step, in place
    ck.wait()
    assert ck.load_latest().state["model"]["w"].sum().item() == 0.0


def test_a_torch_entry_is_one_file_and_numpy_beside_it_stays_npy(tmp_path):
    import numpy as np

    ck = Checkpointer(str(tmp_path), handle_sigterm=False)
    ck.save({"model": {"w": torch.ones(3)}, "data_rng": np.arange(3)}, 1)
    (prefix,) = [p for p in tmp_path.iterdir() if p.name.startswith("step-")]
    assert sorted(p.name for p in prefix.iterdir()) == ["a00001.npy", "t00000.pt", "tree.json"]
