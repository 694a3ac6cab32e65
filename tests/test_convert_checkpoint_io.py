"""Reading real PyTorch checkpoints in every layout met in the wild, without executing pickled code."""

from __future__ import annotations

import os
import pickle

import ml_dtypes
import numpy as np
import pytest
import torch

from hummingbird_jax.convert.checkpoint_io import (
    UnsafeCheckpointError,
    load_torch_checkpoint,
    save_lightning_ckpt,
    save_safetensors,
)


class TinyDenoiser(torch.nn.Module):
    """A small module tree pickled whole, like the released ``*_merged_all.pt``."""

    def __init__(self):
        super().__init__()
        self.diffusion_model = torch.nn.Sequential(torch.nn.Conv2d(4, 8, 3), torch.nn.GroupNorm(4, 8))
        self.register_buffer("betas", torch.linspace(0, 1, 5))


def _tensors():
    g = torch.Generator().manual_seed(0)
    return {
        "model.diffusion_model.a.weight": torch.randn(3, 4, generator=g),
        "model.diffusion_model.b.weight": torch.randn(2, 3, 3, 3, generator=g).half(),
        "first_stage_model.c": torch.randn(5, generator=g).to(torch.bfloat16),
        "scalar": torch.tensor(2.5),
        "transposed": torch.randn(4, 6, generator=g).t(),  # non-contiguous view
    }


def _assert_same(loaded, tensors):
    assert set(loaded) == set(tensors)
    for key, value in tensors.items():
        want = value.float().numpy() if value.dtype == torch.bfloat16 else value.numpy()
        got = loaded[key].astype(np.float32) if loaded[key].dtype == ml_dtypes.bfloat16 else loaded[key]
        assert got.shape == want.shape, key
        np.testing.assert_array_equal(got, want.astype(got.dtype), err_msg=key)


@pytest.mark.parametrize("layout", ["plain", "lightning", "deepspeed"])
def test_state_dict_layouts_load_to_the_same_tensors(tmp_path, layout):
    tensors = _tensors()
    if layout == "plain":
        obj = tensors
    elif layout == "lightning":
        obj = {"state_dict": tensors, "epoch": 3, "global_step": 1000, "hyper_parameters": {"lr": 1e-5}}
    else:
        inner = {"_forward_module." + k: v for k, v in tensors.items()}
        inner["_forward_module.teacher_model.x.weight"] = torch.zeros(2)
        obj = {"module": inner, "optimizer": None}
    path = tmp_path / "model.ckpt"
    torch.save(obj, path)
    _assert_same(load_torch_checkpoint(path), tensors)


def test_shared_storage_views_are_independent_arrays(tmp_path):
    base = torch.arange(12, dtype=torch.float32)
    torch.save({"a": base[:6].view(2, 3), "b": base[6:].view(3, 2)}, tmp_path / "s.pt")
    loaded = load_torch_checkpoint(tmp_path / "s.pt")
    np.testing.assert_array_equal(loaded["a"], np.arange(6).reshape(2, 3))
    np.testing.assert_array_equal(loaded["b"], np.arange(6, 12).reshape(3, 2))


def test_whole_pickled_module_is_walked_like_its_state_dict(tmp_path):
    module = TinyDenoiser()
    path = tmp_path / "merged_all.pt"
    torch.save(module, path)
    loaded = load_torch_checkpoint(path)
    expected = {k: v.numpy() for k, v in module.state_dict().items()}
    assert set(loaded) == set(expected)
    for key in expected:
        np.testing.assert_array_equal(loaded[key], expected[key])


class _Exploit:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def test_checkpoint_that_tries_to_run_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "payload": _Exploit(marker)}, path)
    with pytest.raises(UnsafeCheckpointError, match="system"):
        load_torch_checkpoint(path)
    assert not marker.exists()


def test_object_constructors_are_refused_too(tmp_path):
    class Calls:  # a REDUCE of an arbitrary class: creating it would run its __init__
        def __reduce__(self):
            return (pickle.Pickler, (None,))

    path = tmp_path / "ctor.pt"
    torch.save({"x": Calls()}, path)
    with pytest.raises(UnsafeCheckpointError, match="Pickler"):
        load_torch_checkpoint(path)


def test_safetensors_and_lightning_writers_round_trip(tmp_path):
    tensors = {k: (v.float().numpy() if v.dtype == torch.bfloat16 else v.contiguous().numpy())
               for k, v in _tensors().items()}
    tensors["bf16"] = np.arange(4, dtype=np.float32).astype(ml_dtypes.bfloat16)
    save_safetensors(tensors, tmp_path / "w.safetensors")
    save_lightning_ckpt(tensors, tmp_path / "w.ckpt")
    for name in ("w.safetensors", "w.ckpt"):
        loaded = load_torch_checkpoint(tmp_path / name)
        assert set(loaded) == set(tensors)
        for key in tensors:
            assert loaded[key].dtype == tensors[key].dtype and loaded[key].shape == tensors[key].shape
            np.testing.assert_array_equal(loaded[key], tensors[key])
    assert torch.load(tmp_path / "w.ckpt", weights_only=True)["state_dict"]["bf16"].dtype == torch.bfloat16


def test_unreadable_inputs_get_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.ckpt"):
        load_torch_checkpoint(tmp_path / "missing.ckpt")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="notes.txt"):
        load_torch_checkpoint(tmp_path / "notes.txt")
    legacy = tmp_path / "legacy.pt"
    torch.save({"w": torch.zeros(1)}, legacy, _use_new_zipfile_serialization=False)
    with pytest.raises(ValueError, match="legacy"):
        load_torch_checkpoint(legacy)
