"""InternVideo2's video encoder (``PretrainInternVideo2``), the part a video-text score needs.

A 3-D patch embedding (``tubelet_size`` frames × ``patch_size``² pixels per token), a class token and
one learned position embedding over all ``t·h·w + 1`` tokens (initialised as 3-D sin-cos in the
original; the checkpoint stores it), pre-norm blocks with RMSNorm, optional RMS-normalised queries and
keys (over all heads at once) and layer scale, then the attention-pooling ``clip_projector``: the
token mean queries LayerNorm'd tokens and one linear maps the result to ``clip_embed_dim``. There is
no final norm. The distillation heads of pre-training (``clip_decoder``, ``final_clip_decoder``,
``clip_pos_embed``) play no part in the features and are not built here.

Input NTHWC, already resized and normalised; the residual stream, norms and softmax stay in float32
whatever ``dtype`` the matmuls use.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from hummingbird_jax.models.attention import dot_product_attention

__all__ = ["InternVideo2VisionConfig", "InternVideo2Vision", "RMSNorm"]


@dataclasses.dataclass(frozen=True)
class InternVideo2VisionConfig:
    """Shapes of ``PretrainInternVideo2`` (field names follow its constructor)."""

    img_size: int = 224
    patch_size: int = 14
    in_chans: int = 3
    embed_dim: int = 1408
    depth: int = 40
    num_heads: int = 16
    mlp_ratio: float = 48 / 11
    qkv_bias: bool = False
    qk_normalization: bool = True
    init_values: float = 1e-5  # layer scale; 0 or None: no layer scale
    num_frames: int = 8
    tubelet_size: int = 1
    sep_image_video_pos_embed: bool = True
    attn_pool_num_heads: int = 16
    clip_embed_dim: int = 768

    def __post_init__(self):
        if self.embed_dim % self.num_heads or self.embed_dim % self.attn_pool_num_heads:
            raise ValueError(f"InternVideo2VisionConfig: embed_dim {self.embed_dim} is not divisible by "
                             f"num_heads {self.num_heads} and attn_pool_num_heads {self.attn_pool_num_heads}")
        if self.img_size % self.patch_size or self.num_frames % self.tubelet_size:
            raise ValueError(f"InternVideo2VisionConfig: img_size {self.img_size} / patch_size {self.patch_size} "
                             f"and num_frames {self.num_frames} / tubelet_size {self.tubelet_size} must divide")

    @property
    def grid(self) -> int:
        return self.img_size // self.patch_size

    @property
    def t_size(self) -> int:
        """Token rows along time."""
        return self.num_frames // self.tubelet_size

    @property
    def num_patches(self) -> int:
        return self.t_size * self.grid * self.grid

    @property
    def mlp_hidden(self) -> int:
        return int(self.embed_dim * self.mlp_ratio)


class RMSNorm(nn.Module):
    """``weight · x / sqrt(mean(x²) + eps)`` in float32 (InternVideo2's ``RMSNorm``, param ``weight``)."""

    eps: float = 1e-6

    @nn.compact
    def __call__(self, x):
        weight = self.param("weight", nn.initializers.ones_init(), (x.shape[-1],))
        x = x.astype(jnp.float32)
        return weight * (x * jax.lax.rsqrt(jnp.mean(x * x, axis=-1, keepdims=True) + self.eps))


class _EncoderPart(nn.Module):
    """What every part of the encoder is built from: the config, the compute dtype, the attention."""

    cfg: InternVideo2VisionConfig
    dtype: Any = jnp.float32
    attention_impl: str = "auto"


class Attention(_EncoderPart):
    """Packed ``qkv`` projection, RMS-normalised q and k over all heads, softmax attention, ``proj``."""

    @nn.compact
    def __call__(self, x):
        cfg = self.cfg
        b, n, c = x.shape
        qkv = nn.Dense(3 * c, use_bias=cfg.qkv_bias, dtype=self.dtype, name="qkv")(x.astype(self.dtype))
        q, k, v = jnp.split(qkv, 3, axis=-1)
        if cfg.qk_normalization:
            q = RMSNorm(name="q_norm")(q)
            k = RMSNorm(name="k_norm")(k)
        heads = lambda t: t.astype(self.dtype).reshape(b, n, cfg.num_heads, c // cfg.num_heads)  # noqa: E731
        out = dot_product_attention(heads(q), heads(k), heads(v), implementation=self.attention_impl)
        return nn.Dense(c, dtype=self.dtype, name="proj")(out.reshape(b, n, c)).astype(jnp.float32)


class LayerScale(nn.Module):
    init_values: float

    @nn.compact
    def __call__(self, x):
        gamma = self.param("gamma", nn.initializers.constant(self.init_values), (x.shape[-1],))
        return x * gamma


class Block(_EncoderPart):
    """``x + ls1(attn(norm1(x)))``, then ``x + ls2(fc2(gelu(fc1(norm2(x)))))``."""

    @nn.compact
    def __call__(self, x):
        cfg = self.cfg
        h = Attention(cfg, self.dtype, self.attention_impl, name="attn")(RMSNorm(name="norm1")(x))
        if cfg.init_values:
            h = LayerScale(cfg.init_values, name="ls1")(h)
        x = x + h
        h = RMSNorm(name="norm2")(x).astype(self.dtype)
        h = nn.Dense(cfg.mlp_hidden, dtype=self.dtype, name="mlp.fc1")(h)
        h = nn.gelu(h, approximate=False)  # nn.GELU default: exact erf
        h = nn.Dense(cfg.embed_dim, dtype=self.dtype, name="mlp.fc2")(h).astype(jnp.float32)
        if cfg.init_values:
            h = LayerScale(cfg.init_values, name="ls2")(h)
        return x + h


class CrossAttention(nn.Module):
    """Bias-free ``q``/``k``/``v`` projections with separate ``q_bias``/``k_bias``/``v_bias``, ``proj`` to
    ``out_dim``."""

    num_heads: int
    out_dim: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x_q, x_k, x_v):
        b, c = x_q.shape[0], x_q.shape[-1]

        def project(name, t):
            bias = self.param(f"{name}_bias", nn.initializers.zeros_init(), (c,))
            out = nn.Dense(c, use_bias=False, dtype=self.dtype, name=name)(t.astype(self.dtype))
            return (out + bias.astype(self.dtype)).reshape(b, t.shape[1], self.num_heads, c // self.num_heads)

        q, k, v = project("q", x_q), project("k", x_k), project("v", x_v)
        out = dot_product_attention(q, k, v, implementation="xla").reshape(b, x_q.shape[1], c)
        return nn.Dense(self.out_dim, dtype=self.dtype, name="proj")(out).astype(jnp.float32)


class AttentionPoolingBlock(nn.Module):
    """``clip_projector``: the token mean attends over the tokens, query, key and value each LayerNorm'd
    with their own norm; the single output row is the pooled feature."""

    num_heads: int
    out_dim: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x):
        ln = lambda name: nn.LayerNorm(epsilon=1e-5, dtype=jnp.float32, name=name)  # noqa: E731
        x_q = jnp.mean(x, axis=1, keepdims=True)
        out = CrossAttention(self.num_heads, self.out_dim, self.dtype, name="cross_attn")(
            ln("norm1_q")(x_q), ln("norm1_k")(x), ln("norm1_v")(x))
        return out[:, 0]


class InternVideo2Vision(nn.Module):
    """``(B, T, H, W, 3)`` normalised frames -> ``(tokens (B, 1 + N, C), pooled (B, clip_embed_dim))``.

    ``T`` is ``num_frames``, or 1 (an image: the image position embedding when the model has one,
    else the frame-mean of the video one, as the original does). ``remat`` recomputes each block in
    the backward pass instead of storing its activations.
    """

    cfg: InternVideo2VisionConfig
    dtype: Any = jnp.float32
    attention_impl: str = "auto"
    remat: bool = False

    @nn.compact
    def __call__(self, frames):
        cfg = self.cfg
        expected = (cfg.img_size, cfg.img_size, cfg.in_chans)
        if frames.ndim != 5 or tuple(frames.shape[2:]) != expected or frames.shape[1] not in (1, cfg.num_frames):
            raise ValueError(f"InternVideo2 frames must be (batch, {cfg.num_frames} or 1, {cfg.img_size}, "
                             f"{cfg.img_size}, {cfg.in_chans}), got {tuple(frames.shape)}")
        use_image = frames.shape[1] == 1
        x = nn.Conv(cfg.embed_dim, (cfg.tubelet_size, cfg.patch_size, cfg.patch_size),
                    strides=(cfg.tubelet_size, cfg.patch_size, cfg.patch_size), padding="VALID",
                    dtype=self.dtype, name="patch_embed.proj")(frames.astype(self.dtype))
        b = x.shape[0]
        x = x.reshape(b, -1, cfg.embed_dim).astype(jnp.float32)  # (t, h, w) order, as flatten(3) + permute
        cls_token = self.param("cls_token", nn.initializers.normal(0.02), (1, 1, cfg.embed_dim))
        pos_embed = self.param("pos_embed", nn.initializers.normal(0.02), (1, cfg.num_patches + 1, cfg.embed_dim))
        img_pos_embed = None
        if cfg.sep_image_video_pos_embed:
            img_pos_embed = self.param("img_pos_embed", nn.initializers.normal(0.02),
                                       (1, cfg.grid * cfg.grid + 1, cfg.embed_dim))
        if use_image:
            if img_pos_embed is not None:
                pos_embed = img_pos_embed
            else:
                frames_mean = pos_embed[:, 1:].reshape(1, cfg.t_size, -1, cfg.embed_dim).mean(axis=1)
                pos_embed = jnp.concatenate([pos_embed[:, :1], frames_mean], axis=1)
        x = jnp.concatenate([jnp.broadcast_to(cls_token, (b, 1, cfg.embed_dim)), x], axis=1) + pos_embed
        block = nn.remat(Block) if self.remat else Block
        for i in range(cfg.depth):
            x = block(cfg, self.dtype, self.attention_impl, name=f"blocks.{i}")(x)
        pooled = AttentionPoolingBlock(cfg.attn_pool_num_heads, cfg.clip_embed_dim, self.dtype,
                                       name="clip_projector")(x)
        return x, pooled
