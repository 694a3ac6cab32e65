"""Spatial and temporal transformers of the VideoCrafter2 U-Net (pre-LayerNorm blocks, GEGLU).

Tokens are kept as ``(B, L, C)``. A spatial transformer sees a clip as ``(b, t·h·w, c)``: its
self-attention runs within each frame (``frames=t`` segments of ``L``) while its cross-attention runs
over the whole clip at once, which equals the official per-frame call (every query row attends to the
same text context) without repeating the context ``t`` times. A temporal transformer sees
``(b·h·w, t, c)``: both of its attentions are self-attention over frames.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from hummingbird_jax.models.attention import dot_product_attention, relative_position_attention
from hummingbird_jax.models.layers import GroupNorm, Layer, RegularisedLayer, dense, layer_norm
from hummingbird_jax.models.remat import remat_call

Dtype = Any


class RelativePositionTable(nn.Module):
    """``embeddings_table (2·max_distance + 1, dim)``: one learned vector per clipped distance."""

    max_distance: int
    dim: int
    param_dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self):
        init = nn.with_logical_partitioning(nn.initializers.xavier_uniform(), (None, "norm"))
        return self.param("embeddings_table", init, (2 * self.max_distance + 1, self.dim), self.param_dtype)


class AttentionLayer(RegularisedLayer, kw_only=True):
    """A :class:`RegularisedLayer` that runs attention: which implementation, and the query chunk of
    the chunked one."""

    attention: str = "auto"
    chunk_size: int = 512

    def attention_settings(self) -> dict:
        """:meth:`regularised` plus the attention fields."""
        return dict(self.regularised(), attention=self.attention, chunk_size=self.chunk_size)


class CrossAttention(AttentionLayer):
    """Multi-head attention: ``to_q/k/v`` without bias, ``to_out.0`` with bias.

    ``relative_positions > 0`` (self-attention only) adds LVDM's learned relative-position tables
    ``relative_position_k/v.embeddings_table`` for distances up to that many tokens."""

    heads: int
    dim_head: int
    query_dim: int
    relative_positions: int = 0

    @nn.compact
    def __call__(self, x, context=None, frames: int = 1):
        """``x (B, L, C)``; self-attention within ``frames`` segments of ``L`` when ``context`` is None."""
        inner = self.heads * self.dim_head
        kw = self.dtypes()
        b, length, _ = x.shape
        q = dense(inner, "to_q", use_bias=False, **kw)(x)
        source = x if context is None else context
        k = dense(inner, "to_k", use_bias=False, **kw)(source)
        v = dense(inner, "to_v", use_bias=False, **kw)(source)
        groups = frames if context is None else 1
        q = q.reshape(b * groups, length // groups, self.heads, self.dim_head)
        k = k.reshape(b * groups, k.shape[1] // groups, self.heads, self.dim_head)
        v = v.reshape(b * groups, v.shape[1] // groups, self.heads, self.dim_head)
        if self.relative_positions:
            if context is not None:
                raise ValueError("relative positions apply to self-attention only (context must be None)")
            tables = [RelativePositionTable(self.relative_positions, self.dim_head, self.param_dtype,
                                            name=f"relative_position_{which}")() for which in "kv"]
            out = relative_position_attention(q, k, v, *tables, self.relative_positions)
        else:
            out = dot_product_attention(q, k, v, implementation=self.attention, chunk_size=self.chunk_size)
        out = out.reshape(b, length, inner)
        out = dense(self.query_dim, "to_out.0", **kw)(out)
        return nn.Dropout(self.dropout, deterministic=self.deterministic)(out)


class GEGLU(Layer):
    """``proj`` to twice the width, then value · GELU(gate) with the exact (erf) GELU."""

    features: int

    @nn.compact
    def __call__(self, x):
        projected = dense(self.features * 2, "proj", **self.dtypes())(x)
        value, gate = jnp.split(projected, 2, axis=-1)
        return value * jax.nn.gelu(gate, approximate=False)


class FeedForward(RegularisedLayer):
    """``net.0`` GEGLU → dropout → ``net.2`` Linear."""

    dim: int
    mult: int = 4

    @nn.compact
    def __call__(self, x):
        h = GEGLU(self.dim * self.mult, **self.dtypes(), name="net.0")(x)
        h = nn.Dropout(self.dropout, deterministic=self.deterministic)(h)
        return dense(self.dim, "net.2", **self.dtypes())(h)


class BasicTransformerBlock(AttentionLayer):
    """``x += attn1(norm1 x); x += attn2(norm2 x, context); x += ff(norm3 x)``."""

    dim: int
    heads: int
    dim_head: int
    frames: int = 1
    relative_positions: int = 0  # for both attentions: a temporal block's attn2 is self-attention too

    @nn.compact
    def __call__(self, x, context=None):
        attn = dict(heads=self.heads, dim_head=self.dim_head, query_dim=self.dim,
                    relative_positions=self.relative_positions, **self.attention_settings())

        def norm(name, h):
            return layer_norm(name, param_dtype=self.param_dtype)(h).astype(self.dtype)

        x = x + CrossAttention(**attn, name="attn1")(norm("norm1", x), frames=self.frames)
        x = x + CrossAttention(**attn, name="attn2")(norm("norm2", x), context, frames=self.frames)
        return x + FeedForward(self.dim, **self.regularised(), name="ff")(norm("norm3", x))


class _TransformerBase(AttentionLayer):
    """Fields shared by the spatial and temporal transformers."""

    channels: int
    heads: int
    dim_head: int
    depth: int = 1
    remat_policy: Any = None  # a jax.checkpoint policy, or None for no rematerialisation
    norm_groups: int = 32
    relative_positions: int = 0  # temporal only: LVDM's temporal_length when use_relative_position

    def blocks(self, h, context, frames):
        inner = self.heads * self.dim_head
        for i in range(self.depth):
            block = BasicTransformerBlock(inner, self.heads, self.dim_head, frames=frames,
                                          relative_positions=self.relative_positions,
                                          **self.attention_settings(), name=f"transformer_blocks.{i}")
            h = remat_call(block, self.remat_policy, h, *(() if context is None else (context,)))
        return h


class SpatialTransformer(_TransformerBase):
    """Per-frame spatial self-attention plus cross-attention to the text context."""

    @nn.compact
    def __call__(self, x, context):
        b, t, hgt, wid, c = x.shape
        kw = self.dtypes()
        norm = GroupNorm(self.norm_groups, epsilon=1e-6, param_dtype=self.param_dtype, name="norm")
        h = norm(x.reshape(b * t, hgt * wid, c))
        h = dense(self.heads * self.dim_head, "proj_in", **kw)(h.reshape(b, t * hgt * wid, c))
        h = self.blocks(h, context.astype(self.dtype), frames=t)
        h = dense(c, "proj_out", **kw)(h)
        return x + h.reshape(x.shape).astype(x.dtype)


class TemporalTransformer(_TransformerBase):
    """Self-attention over frames at every pixel; GroupNorm statistics span all frames.

    ``init_attn`` stores its projections as Conv1d(k=1) in checkpoints; the maths is the same Dense,
    so only the conversion rules tell the two apart.
    """

    @nn.compact
    def __call__(self, x):
        b, t, hgt, wid, c = x.shape
        kw = self.dtypes()
        norm = GroupNorm(self.norm_groups, epsilon=1e-6, param_dtype=self.param_dtype, name="norm")
        h = norm(x.reshape(b, t * hgt * wid, c))
        h = jnp.transpose(h.reshape(b, t, hgt * wid, c), (0, 2, 1, 3)).reshape(b * hgt * wid, t, c)
        h = dense(self.heads * self.dim_head, "proj_in", **kw)(h)
        h = self.blocks(h, None, frames=1)
        h = dense(c, "proj_out", **kw)(h)
        h = jnp.transpose(h.reshape(b, hgt * wid, t, c), (0, 2, 1, 3))
        return x + h.reshape(x.shape).astype(x.dtype)
