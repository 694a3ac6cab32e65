"""The Flax U-Net reproduces the official PyTorch modules on the reference fixtures (fp32)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import REFERENCE, relative_error
from safetensors.numpy import load_file

from hummingbird_jax.convert.checkpoint_io import load_torch_checkpoint
from hummingbird_jax.convert.unet import unet_from_torch, unet_to_torch
from hummingbird_jax.models.unet3d import UNet3D
from hummingbird_jax.models.unet_config import UNet3DConfig

MODELS = ["vc2_teacher", "hb_0.9b", "hb_0.7b"]


def to_channels_last(video):
    return np.transpose(video, (0, 2, 3, 4, 1))


@functools.lru_cache(maxsize=None)
def reference_model(name):
    cfg = UNet3DConfig.from_lvdm_yaml(str(REFERENCE / f"unet_{name}.yaml"))
    state_dict = load_torch_checkpoint(REFERENCE / f"unet_{name}.safetensors")
    io = load_file(str(REFERENCE / f"unet_{name}.io.safetensors"))
    return cfg, state_dict, io


@pytest.mark.parametrize("attention", ["xla", "chunked"])
@pytest.mark.parametrize("name", MODELS)
def test_forward_matches_official_module(name, attention):
    """Both fixture outputs in one compiled call: ``time_cond_proj`` has no bias, so the call without
    ``timestep_cond`` equals the call with a zero one (checked separately below)."""
    cfg, state_dict, io = reference_model(name)
    params = unet_from_torch(state_dict, cfg)
    # Chunks of 128 queries split the 16×24 = 384-token spatial attention into three blocks.
    model = UNet3D(cfg.replace(attention=attention, attention_chunk_size=128))
    twice = lambda a: np.concatenate([a, a])
    cond = np.concatenate([io["timestep_cond"], np.zeros_like(io["timestep_cond"])])
    out = jax.jit(lambda p, *a: model.apply({"params": p}, *a[:3], fps=a[3], timestep_cond=a[4]))(
        params, twice(to_channels_last(io["x"])), twice(io["timesteps"]), twice(io["context"]), twice(io["fps"]), cond)
    with_cond, without = np.split(np.asarray(out), 2)
    assert relative_error(with_cond, to_channels_last(io["out"])) <= 1e-4
    assert relative_error(without, to_channels_last(io["out_without_timestep_cond"])) <= 1e-4


def test_no_timestep_cond_equals_a_zero_guidance_projection():
    cfg, state_dict, io = reference_model("hb_0.7b")
    params = unet_from_torch(state_dict, cfg)
    args = (to_channels_last(io["x"])[:1, :2], io["timesteps"][:1], io["context"][:1])
    model = UNet3D(cfg.replace(attention="xla"))
    without = model.apply({"params": params}, *args, fps=io["fps"][:1])
    zero = model.apply({"params": params}, *args, fps=io["fps"][:1], timestep_cond=np.zeros((1, 256), np.float32))
    np.testing.assert_array_equal(np.asarray(without), np.asarray(zero))


@pytest.mark.parametrize("name", MODELS)
def test_round_trip_gives_back_the_same_tensors(name):
    cfg, state_dict, _ = reference_model(name)
    back = unet_to_torch(unet_from_torch(state_dict, cfg), cfg)
    assert set(back) == set(state_dict)
    for key, value in state_dict.items():
        assert back[key].dtype == value.dtype and np.array_equal(back[key], value), key


def test_middle_block_presence_is_read_from_the_yaml_target():
    assert UNet3DConfig.from_lvdm_yaml(str(REFERENCE / "unet_hb_0.7b.yaml")).use_middle_block is False
    assert UNet3DConfig.from_lvdm_yaml(str(REFERENCE / "unet_hb_0.9b.yaml")).use_middle_block is True
    assert UNet3DConfig.from_lvdm_yaml(str(REFERENCE / "unet_vc2_teacher.yaml")).num_res_blocks == 2


def test_bf16_error_against_fp32_is_small(record_property):
    cfg, state_dict, io = reference_model("hb_0.7b")
    params = unet_from_torch(state_dict, cfg)
    args = (to_channels_last(io["x"]), io["timesteps"], io["context"])
    out32 = jax.jit(lambda p, *a: UNet3D(cfg).apply({"params": p}, *a, fps=io["fps"],
                                                    timestep_cond=io["timestep_cond"]))(params, *args)
    cfg16 = cfg.replace(dtype="bfloat16", param_dtype="bfloat16")
    params16 = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.bfloat16), params)
    out16 = jax.jit(lambda p, *a: UNet3D(cfg16).apply({"params": p}, *a, fps=io["fps"],
                                                      timestep_cond=io["timestep_cond"]))(params16, *args)
    assert out16.dtype == jnp.float32  # the output keeps the input's dtype
    error = relative_error(out16, out32)
    record_property("bf16_vs_fp32_max_relative_error", error)
    print(f"bf16 vs fp32 U-Net output: max relative error {error:.2e}")
    assert error < 0.05
