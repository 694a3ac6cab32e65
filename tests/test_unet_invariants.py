"""Properties of the U-Net that must hold for any configuration, on small random models."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hummingbird_jax.diffusion.sampling import unet_eps
from hummingbird_jax.diffusion.schedule import eps_from_velocity
from hummingbird_jax.models.attention import (
    dot_product_attention,
    resolve_implementation,
)
from hummingbird_jax.models.unet3d import (
    UNet3D,
    init_unet,
    unet_abstract_variables,
    unet_param_shapes,
)
from hummingbird_jax.models.unet_config import UNet3DConfig


def tiny(**overrides) -> UNet3DConfig:
    base = dict(model_channels=32, channel_mult=(1, 2), attention_resolutions=(1,), num_head_channels=16,
                context_dim=16, num_res_blocks=1, use_middle_block=False, time_cond_proj_dim=256)
    return UNet3DConfig(**{**base, **overrides})


def one_level(**overrides) -> UNet3DConfig:
    """The smallest U-Net with every kind of layer (cheap to compile for gradient tests)."""
    return tiny(channel_mult=(1,), **overrides)


def inputs(cfg, batch=2, frames=3, height=8, width=8, seed=0):
    rng = np.random.default_rng(seed)
    return dict(
        x=rng.standard_normal((batch, frames, height, width, cfg.in_channels), np.float32),
        timesteps=rng.integers(0, 1000, batch).astype(np.int32),
        context=rng.standard_normal((batch, 5, cfg.context_dim), np.float32),
        fps=rng.integers(1, 30, batch).astype(np.int32),
        timestep_cond=rng.standard_normal((batch, cfg.time_cond_proj_dim), np.float32)
        if cfg.time_cond_proj_dim else None,
    )


def apply(cfg, params, batch, **kw):
    return UNet3D(cfg).apply({"params": params}, batch["x"], batch["timesteps"], batch["context"],
                             fps=batch["fps"], timestep_cond=batch["timestep_cond"], **kw)


@pytest.mark.parametrize("q_len,kv_len,chunk,causal", [
    (300, 300, 128, False), (300, 300, 128, True), (37, 11, 8, False), (16, 16, 512, True)])
def test_attention_implementations_agree(q_len, kv_len, chunk, causal):
    keys = jax.random.split(jax.random.key(1), 3)
    q = jax.random.normal(keys[0], (2, q_len, 3, 8))
    k, v = (jax.random.normal(key, (2, kv_len, 3, 8)) for key in keys[1:])
    plain = dot_product_attention(q, k, v, causal=causal, implementation="xla")
    chunked = dot_product_attention(q, k, v, causal=causal, implementation="chunked", chunk_size=chunk)
    scores = jnp.einsum("bqhd,bkhd->bhqk", q, k) / np.sqrt(8)
    if causal:
        scores = jnp.where(jnp.tril(jnp.ones((q_len, kv_len), bool)), scores, -jnp.inf)
    textbook = jnp.einsum("bhqk,bkhd->bqhd", jax.nn.softmax(scores, -1), v)
    np.testing.assert_allclose(plain, textbook, atol=2e-6)
    np.testing.assert_allclose(chunked, textbook, atol=2e-6)


def test_auto_attention_picks_blocked_attention_for_long_sequences_on_cpu():
    assert resolve_implementation("auto", 2560, 2560, jnp.float32) == "chunked"
    assert resolve_implementation("auto", 16, 16, jnp.float32) == "xla"
    with pytest.raises(ValueError, match="expected one of"):
        resolve_implementation("flash", 16, 16, jnp.float32)
    with pytest.raises(ValueError, match="NVIDIA"):
        dot_product_attention(jnp.ones((1, 4, 1, 8)), jnp.ones((1, 4, 1, 8)), jnp.ones((1, 4, 1, 8)),
                              implementation="cudnn")


@pytest.mark.parametrize("cfg,shape", [
    (tiny(), (3, 8, 8)),
    (tiny(model_channels=64, channel_mult=(1, 1, 2), num_head_channels=32, num_res_blocks=2,
          use_middle_block=True, attention_resolutions=(2,), time_cond_proj_dim=None, context_dim=24), (2, 8, 12)),
])
def test_output_shape_and_batch_independence(cfg, shape):
    params = init_unet(cfg, jax.random.key(0, impl="rbg"))
    batch = inputs(cfg, batch=2, frames=shape[0], height=shape[1], width=shape[2])
    first = jax.tree_util.tree_map(lambda a: None if a is None else a[:1], batch)

    @jax.jit
    def both(params, batch, first):
        return apply(cfg, params, batch), apply(cfg, params, first)

    whole, alone = both(params, batch, first)
    assert whole.shape == batch["x"].shape and whole.dtype == jnp.float32
    assert np.all(np.isfinite(whole))
    np.testing.assert_allclose(whole[:1], alone, rtol=1e-5, atol=1e-5)


def test_unet_eps_reads_a_v_prediction_as_noise():
    """Same weights, two parameterizations: the raw output is the same, ``unet_eps`` converts only v."""
    cfg = one_level(time_cond_proj_dim=None)
    params = init_unet(cfg, jax.random.key(0))
    b = inputs(cfg)
    raw = np.asarray(apply(cfg, params, b))
    args = (params, b["x"], b["timesteps"], b["context"], b["fps"])
    np.testing.assert_array_equal(np.asarray(unet_eps(cfg, *args)), raw)
    v_cfg = cfg.replace(parameterization="v")
    np.testing.assert_allclose(np.asarray(unet_eps(v_cfg, *args)),
                               np.asarray(eps_from_velocity(b["x"], raw, b["timesteps"])), atol=1e-6)
    with pytest.raises(ValueError, match="parameterization"):
        cfg.replace(parameterization="x0")


def test_frames_interact_only_through_temporal_layers():
    """Changing frame 0 changes every frame's output (temporal conv and attention mix frames)."""
    cfg = tiny()
    params = init_unet(cfg, jax.random.key(0, impl="rbg"))
    batch = inputs(cfg, batch=1)
    changed = dict(batch, x=batch["x"].copy())
    changed["x"][:, 0] += 1.0
    f = jax.jit(lambda p, b: apply(cfg, p, b))
    delta = np.abs(np.asarray(f(params, batch)) - np.asarray(f(params, changed))).max(axis=(0, 2, 3, 4))
    assert np.all(delta > 1e-4)


def test_rematerialisation_changes_memory_not_gradients():
    cfg = one_level()
    params = init_unet(cfg, jax.random.key(0, impl="rbg"))
    batch = inputs(cfg, batch=1, frames=2)

    def loss(cfg):
        return jax.jit(jax.grad(lambda p: jnp.mean(apply(cfg, p, batch) ** 2)))

    plain, remat = loss(cfg)(params), loss(cfg.replace(remat_policy="full"))(params)
    for a, b in zip(jax.tree_util.tree_leaves(plain), jax.tree_util.tree_leaves(remat)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    assert any(np.abs(np.asarray(g)).max() > 0 for g in jax.tree_util.tree_leaves(plain))


def test_dropout_acts_only_in_training():
    cfg = one_level(dropout=0.3)
    params = init_unet(cfg, jax.random.key(0, impl="rbg"))
    batch = inputs(cfg, batch=1, frames=2)

    @jax.jit
    def run(params, key):
        return apply(cfg, params, batch), apply(cfg, params, batch, train=True, rngs={"dropout": key})

    evaluation, train_a = run(params, jax.random.key(1))
    evaluation_2, train_b = run(params, jax.random.key(2))
    np.testing.assert_array_equal(evaluation, evaluation_2)
    assert np.abs(np.asarray(train_a) - np.asarray(evaluation)).max() > 1e-3
    assert np.abs(np.asarray(train_a) - np.asarray(train_b)).max() > 1e-3


def test_every_parameter_has_logical_axis_names():
    abstract = unet_abstract_variables(UNet3DConfig.hummingbird_0_7b(time_cond_proj_dim=256))["params"]
    leaves = jax.tree_util.tree_leaves(abstract, is_leaf=lambda x: isinstance(x, nn.Partitioned))
    assert len(leaves) == 853
    for leaf in leaves:
        assert isinstance(leaf, nn.Partitioned)
        assert len(leaf.names) == leaf.value.ndim
    specs = nn.get_partition_spec(abstract)
    kernel = specs["input_blocks.1"]["0"]["in_layers.2"]["kernel"]
    assert tuple(kernel) == ("kernel", "kernel", "in", "out")


def test_bad_inputs_are_named():
    cfg = tiny()
    params = unet_param_shapes(cfg)
    batch = inputs(cfg, batch=1, frames=2)

    def apply(cfg, params, batch):  # shapes only: the checks run before any computation
        return jax.eval_shape(lambda p: UNet3D(cfg).apply(
            {"params": p}, batch["x"], batch["timesteps"], batch["context"], fps=batch["fps"],
            timestep_cond=batch["timestep_cond"]), params)

    with pytest.raises(ValueError, match="divide by 2"):
        apply(cfg, params, dict(batch, x=np.zeros((1, 2, 7, 8, 4), np.float32)))
    with pytest.raises(ValueError, match="context must be"):
        apply(cfg, params, dict(batch, context=np.zeros((1, 5, 3), np.float32)))
    with pytest.raises(ValueError, match="timestep_cond must be"):
        apply(cfg, params, dict(batch, timestep_cond=np.zeros((1, 3), np.float32)))
    with pytest.raises(ValueError, match="remat_policy"):
        tiny(remat_policy="sometimes")


def test_norm_groups_keep_the_weights_and_change_what_the_norms_erase():
    """With one channel per GroupNorm group every norm removes each channel's per-frame mean; fewer
    groups keep it. Same parameter tree either way (GroupNorm's scale/bias are per channel)."""
    base = UNet3DConfig(model_channels=32, channel_mult=(1,), attention_resolutions=(1,), num_head_channels=16,
                        context_dim=16, temporal_length=2, num_res_blocks=1)
    grouped = base.replace(norm_groups=8)
    assert jax.tree_util.tree_map(lambda a: a.shape, unet_param_shapes(base)) == \
        jax.tree_util.tree_map(lambda a: a.shape, unet_param_shapes(grouped))
    params = init_unet(base, jax.random.key(0), frames=2, height=4, width=4)
    x = jax.random.normal(jax.random.key(1), (1, 2, 4, 4, 4))
    context = jax.random.normal(jax.random.key(2), (1, 3, 16))
    t = jnp.array([500])
    one_per_group, eight_per_group = (UNet3D(c).apply({"params": params}, x, t, context) for c in (base, grouped))
    assert float(jnp.max(jnp.abs(one_per_group - eight_per_group))) > 1e-3
    with pytest.raises(ValueError, match="norm_groups=24"):
        base.replace(norm_groups=24)
