"""Temporal attention with learned relative positions (``use_relative_position``): the maths, what it
changes in the U-Net (frame order becomes visible), and its checkpoint keys."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hummingbird_jax.convert.unet import unet_from_torch, unet_to_torch
from hummingbird_jax.models.attention import (
    dot_product_attention,
    relative_position_attention,
)
from hummingbird_jax.models.unet3d import block_layout, init_unet
from hummingbird_jax.models.unet_config import UNet3DConfig
from hummingbird_jax.param_paths import flax_paths
from tests.test_unet_invariants import apply, inputs, one_level


def _loop_reference(q, k, v, table_k, table_v, max_distance):
    """One (batch, head, query) at a time, as the formula reads: distance = key index − query index."""
    b, length, heads, d = q.shape
    out = np.zeros_like(q)
    for bi in range(b):
        for h in range(heads):
            for i in range(length):
                dist = np.clip(np.arange(length) - i, -max_distance, max_distance) + max_distance
                scores = np.array([q[bi, i, h] @ (k[bi, j, h] + table_k[dist[j]]) for j in range(length)]) / np.sqrt(d)
                p = np.exp(scores - scores.max())
                p /= p.sum()
                out[bi, i, h] = sum(p[j] * (v[bi, j, h] + table_v[dist[j]]) for j in range(length))
    return out


@pytest.mark.parametrize("length,max_distance,heads,dim", [(8, 3, 2, 4), (5, 16, 3, 8), (1, 2, 1, 4)])
def test_relative_position_attention_matches_the_formula(length, max_distance, heads, dim):
    rng = np.random.default_rng(length)
    q, k, v = (rng.standard_normal((2, length, heads, dim)).astype(np.float32) for _ in range(3))
    table_k, table_v = (rng.standard_normal((2 * max_distance + 1, dim)).astype(np.float32) for _ in range(2))
    got = relative_position_attention(q, k, v, table_k, table_v, max_distance)
    np.testing.assert_allclose(got, _loop_reference(q, k, v, table_k, table_v, max_distance), atol=2e-5)


def test_numpy_tables_work_inside_a_traced_loop():
    """Parameters read from a file are NumPy arrays; a jitted sampler closes over them and scans."""
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((1, 4, 1, 4)).astype(np.float32) for _ in range(3))
    table_k, table_v = (rng.standard_normal((5, 4)).astype(np.float32) for _ in range(2))

    def body(carry, _):
        return relative_position_attention(carry, k, v, table_k, table_v, 2), None

    got = jax.jit(lambda x: jax.lax.scan(body, x, None, length=2)[0])(q)
    want = relative_position_attention(relative_position_attention(q, k, v, table_k, table_v, 2),
                                       k, v, table_k, table_v, 2)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_zero_tables_give_plain_attention():
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((3, 6, 2, 8)).astype(np.float32) for _ in range(3))
    zeros = np.zeros((9, 8), np.float32)
    np.testing.assert_allclose(relative_position_attention(q, k, v, zeros, zeros, 4),
                               dot_product_attention(q, k, v, implementation="xla"), atol=2e-6)


def _reversal_gap(cfg, seed=0):
    """How far the U-Net is from commuting with reversing the frames: |f(rev x) − rev f(x)| / |f(x)|."""
    params = init_unet(cfg, jax.random.key(seed), frames=4)
    if cfg.use_relative_position:  # the tables start random already; no need to train them
        assert any("relative_position_k/embeddings_table" in p for p in flax_paths(params))
    batch = inputs(cfg, frames=4)
    out = apply(cfg, params, batch)
    reversed_out = apply(cfg, params, {**batch, "x": batch["x"][:, ::-1]})
    return float(jnp.max(jnp.abs(reversed_out[:, ::-1] - out)) / jnp.max(jnp.abs(out)))


def test_relative_positions_let_temporal_attention_see_frame_order():
    # Without temporal convolutions, every layer treats the frames as a set (temporal attention is
    # permutation-equivariant), so reversing the input reverses the output; relative positions break that.
    plain = one_level(temporal_conv=False)
    with_positions = one_level(temporal_conv=False, use_relative_position=True, temporal_length=2)
    assert _reversal_gap(plain) < 1e-5
    assert _reversal_gap(with_positions) > 1e-3


def test_tables_sit_in_every_temporal_attention_and_round_trip_through_torch_keys():
    cfg = one_level(use_relative_position=True, temporal_length=3)
    params = init_unet(cfg, jax.random.key(1), frames=4)
    torch_state = unet_to_torch(params, cfg)
    tables = sorted(k for k in torch_state if "relative_position" in k)
    temporal = sum(kind == "temporal" for blocks in block_layout(cfg).values() for layers in blocks
                   for kind, _ in layers)
    # init_attn and every temporal transformer: attn1 and attn2 (both self-attention), each k and v.
    assert temporal == 3 and len(tables) == 4 * (1 + temporal), tables
    assert "model.diffusion_model.init_attn.0.transformer_blocks.0.attn1.relative_position_k.embeddings_table" in tables
    assert all(torch_state[k].shape == (2 * 3 + 1, cfg.num_head_channels) for k in tables)
    assert not any("relative_position" in k and ".transformer_blocks.0.attn2" in k and "input_blocks.1.1." in k
                   for k in tables), "spatial cross-attention must not get relative positions"
    back = unet_from_torch(torch_state, cfg)
    for path, leaf in flax_paths(params).items():
        np.testing.assert_array_equal(flax_paths(back)[path], leaf, err_msg=path)


def test_temporal_length_must_be_positive_with_relative_positions():
    with pytest.raises(ValueError, match="temporal_length"):
        UNet3DConfig(use_relative_position=True, temporal_length=0)
