"""Video Swin Transformer with DOVER's gated relative-position bias (the technical branch).

DOVER (after FAST-VQA) scores *fragments*: a frame is cut into a grid of small patches that are
stitched back together, so neighbouring tokens may come from distant places of the source frame.
Its Swin therefore keeps two relative-position tables per attention layer: the usual one and a
``fragment_position_bias_table``. Each token gets a fragment coordinate (the window-sized grid
stretched over the padded feature map by nearest-neighbour lookup); for a token pair the gate is
the L1 distance ``g`` between their fragment coordinates and the bias is
``table[rpi] * g + fragment_table[rpi] * (1 - g)``, exactly as the official code computes it (the
gate is not clipped to {0, 1}).

Everything that depends only on shapes (relative-position indices, shift masks, gates) is built in
numpy at trace time, reproducing the official index arithmetic, including the quirks that matter
when a window is clipped to a small feature map (the index table is sliced ``[:N, :N]``).
Arrays are channels-last: ``(batch, frames, height, width, channels)``.
"""

from __future__ import annotations

import dataclasses
from functools import reduce
from operator import mul
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["Swin3DConfig", "Swin3D"]

_LN_EPS = 1e-5  # torch.nn.LayerNorm default
_MASK_VALUE = -100.0  # the official shifted-window mask


@dataclasses.dataclass(frozen=True)
class Swin3DConfig:
    """``SwinTransformer3D``'s constructor arguments that change the network (defaults: DOVER's
    ``swin_tiny_grpb``). ``window_size`` is one (d, h, w) or one per stage."""

    patch_size: tuple[int, int, int] = (2, 4, 4)
    in_chans: int = 3
    embed_dim: int = 96
    depths: tuple[int, ...] = (2, 2, 6, 2)
    num_heads: tuple[int, ...] = (3, 6, 12, 24)
    window_size: tuple = (8, 7, 7)
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    frag_biases: tuple[bool, ...] = (True, True, True, False)
    patch_norm: bool = True

    def __post_init__(self):
        if not (len(self.depths) == len(self.num_heads) == len(self.frag_biases)):
            raise ValueError(
                f"Swin3DConfig: depths {self.depths}, num_heads {self.num_heads} and frag_biases "
                f"{self.frag_biases} must have one entry per stage"
            )
        for i, heads in enumerate(self.num_heads):
            if (self.embed_dim * 2**i) % heads:
                raise ValueError(f"Swin3DConfig: stage {i} width {self.embed_dim * 2**i} is not divisible by {heads} heads")

    @property
    def num_features(self) -> int:
        return self.embed_dim * 2 ** (len(self.depths) - 1)

    def stage_window(self, stage: int) -> tuple[int, int, int]:
        window = self.window_size
        return tuple(window[stage]) if isinstance(window[0], (tuple, list)) else tuple(window)


# ---------------------------------------------------------------------------------------------
# Shape-only index arithmetic (numpy, mirrors the official functions)


def clipped_window(size: Sequence[int], window: Sequence[int], shift: Sequence[int]):
    """``get_window_size``: a window dimension larger than the feature map shrinks to it, unshifted."""
    window, shift = list(window), list(shift)
    for i, s in enumerate(size):
        if s <= window[i]:
            window[i], shift[i] = s, 0
    return tuple(window), tuple(shift)


def window_partition(x, window: Sequence[int]):
    """``(B, D, H, W, C)`` -> ``(B, windows, tokens per window, C)``; numpy or jax arrays."""
    b, d, h, w, c = x.shape
    wd, wh, ww = window
    x = x.reshape(b, d // wd, wd, h // wh, wh, w // ww, ww, c)
    return x.transpose(0, 1, 3, 5, 2, 4, 6, 7).reshape(b, -1, wd * wh * ww, c)


def window_reverse(windows, window: Sequence[int], d: int, h: int, w: int):
    b, _, _, c = windows.shape
    wd, wh, ww = window
    x = windows.reshape(b, d // wd, h // wh, w // ww, wd, wh, ww, c)
    return x.transpose(0, 1, 4, 2, 5, 3, 6, 7).reshape(b, d, h, w, c)


def relative_position_index(window: Sequence[int]) -> np.ndarray:
    """``(N, N)`` index into the ``(2wd-1)(2wh-1)(2ww-1)`` bias table for the configured window."""
    coords = np.stack(np.meshgrid(*[np.arange(n) for n in window], indexing="ij")).reshape(3, -1)
    rel = (coords[:, :, None] - coords[:, None, :]).transpose(1, 2, 0)
    rel = rel + np.array(window) - 1
    wd, wh, ww = window
    return rel[..., 0] * (2 * wh - 1) * (2 * ww - 1) + rel[..., 1] * (2 * ww - 1) + rel[..., 2]


def _nearest_source(out_size: int, in_size: int) -> np.ndarray:
    """PyTorch's ``interpolate(mode="nearest")`` source index, float32 arithmetic included."""
    dst = np.arange(out_size)
    if out_size == in_size:
        return dst
    if out_size == 2 * in_size:
        return dst >> 1
    scale = np.float32(in_size) / np.float32(out_size)
    return np.minimum(np.floor(dst.astype(np.float32) * scale).astype(np.int64), in_size - 1)


def fragment_gate(padded: Sequence[int], window: Sequence[int], shift: Sequence[int]) -> np.ndarray:
    """``(windows, N, N)`` L1 distance between the fragment coordinates of each token pair
    (``global_position_index``: a ``1 × wh × ww`` grid of fragments stretched over the map)."""
    dp, hp, wp = padded
    grid = (1, window[1], window[2])
    idx = [_nearest_source(n, g) for n, g in zip(padded, grid)]
    coords = np.stack(np.meshgrid(idx[0] * 0, idx[1], idx[2], indexing="ij"), axis=-1)[None]
    coords = np.roll(coords, shift=(-shift[0], -shift[1], -shift[2]), axis=(1, 2, 3))
    windows = window_partition(coords, window)[0]  # (nW, N, 3)
    return np.abs(windows[:, None, :, :] - windows[:, :, None, :]).sum(-1).astype(np.float32)


def shift_mask(padded: Sequence[int], window: Sequence[int], shift: Sequence[int]) -> np.ndarray:
    """``compute_mask``: ``(windows, N, N)`` of 0 / -100 separating regions rolled together."""
    img = np.zeros((1, *padded, 1), np.float32)
    count = 0
    spans = [(slice(-w), slice(-w, -s), slice(-s, None)) for w, s in zip(window, shift)]
    for d in spans[0]:
        for h in spans[1]:
            for w in spans[2]:
                img[:, d, h, w, :] = count
                count += 1
    labels = window_partition(img, window)[0, ..., 0]  # (nW, N)
    diff = labels[:, None, :] - labels[:, :, None]
    return np.where(diff != 0, _MASK_VALUE, 0.0).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Modules


def _layer_norm(name: str) -> nn.LayerNorm:
    return nn.LayerNorm(epsilon=_LN_EPS, use_fast_variance=False, name=name)


class WindowAttention3D(nn.Module):
    dim: int
    window: tuple[int, int, int]  # configured (sizes the tables)
    num_heads: int
    qkv_bias: bool
    frag_bias: bool

    @nn.compact
    def __call__(self, x, rpi: np.ndarray, gate: np.ndarray, mask: np.ndarray | None):
        """``x``: ``(B, windows, N, C)``; ``rpi`` ``(N, N)``; ``gate``/``mask`` ``(windows, N, N)``."""
        b, nw, n, c = x.shape
        heads, head_dim = self.num_heads, c // self.num_heads
        table_size = reduce(mul, (2 * w - 1 for w in self.window))
        init = nn.initializers.truncated_normal(0.02)
        table = self.param("relative_position_bias_table", init, (table_size, heads))
        qkv = nn.Dense(3 * c, use_bias=self.qkv_bias, name="qkv")(x).reshape(b, nw, n, 3, heads, head_dim)
        q, k, v = qkv[..., 0, :, :], qkv[..., 1, :, :], qkv[..., 2, :, :]
        attn = jnp.einsum("bwqhd,bwkhd->bwhqk", q * head_dim**-0.5, k)
        bias = table[rpi.reshape(-1)].reshape(n, n, heads).transpose(2, 0, 1)[None]  # (1, nH, N, N)
        if self.frag_bias:
            frag_table = self.param("fragment_position_bias_table", init, (table_size, heads))
            frag = frag_table[rpi.reshape(-1)].reshape(n, n, heads).transpose(2, 0, 1)[None]
            g = jnp.asarray(gate)[:, None]
            bias = bias * g + frag * (1 - g)  # (nW, nH, N, N)
        attn = attn + bias[None]
        if mask is not None:
            attn = attn + jnp.asarray(mask)[None, :, None]
        attn = jax.nn.softmax(attn, axis=-1)
        out = jnp.einsum("bwhqk,bwkhd->bwqhd", attn, v).reshape(b, nw, n, c)
        return nn.Dense(c, name="proj")(out)


class SwinBlock3D(nn.Module):
    dim: int
    num_heads: int
    window: tuple[int, int, int]
    shift: tuple[int, int, int]
    mlp_ratio: float
    qkv_bias: bool
    frag_bias: bool

    @nn.compact
    def __call__(self, x):
        b, d, h, w, c = x.shape
        window, shift = clipped_window((d, h, w), self.window, self.shift)
        pads = [(-s) % ws for s, ws in zip((d, h, w), window)]
        padded = (d + pads[0], h + pads[1], w + pads[2])
        y = _layer_norm("norm1")(x)
        y = jnp.pad(y, ((0, 0), (0, pads[0]), (0, pads[1]), (0, pads[2]), (0, 0)))
        shifted = any(s > 0 for s in shift)
        if shifted:
            y = jnp.roll(y, (-shift[0], -shift[1], -shift[2]), axis=(1, 2, 3))
        n = reduce(mul, window)
        rpi = relative_position_index(self.window)[:n, :n]
        attention = WindowAttention3D(self.dim, self.window, self.num_heads, self.qkv_bias, self.frag_bias, name="attn")
        y = attention(
            window_partition(y, window), rpi, fragment_gate(padded, window, shift),
            shift_mask(padded, window, shift) if shifted else None,
        )
        y = window_reverse(y, window, *padded)
        if shifted:
            y = jnp.roll(y, shift, axis=(1, 2, 3))
        x = x + y[:, :d, :h, :w]
        z = _layer_norm("norm2")(x)
        return x + _Mlp(self.dim, self.mlp_ratio, name="mlp")(z)


class _Mlp(nn.Module):
    dim: int
    mlp_ratio: float

    @nn.compact
    def __call__(self, x):
        x = nn.Dense(int(self.dim * self.mlp_ratio), name="fc1")(x)
        return nn.Dense(self.dim, name="fc2")(jax.nn.gelu(x, approximate=False))


class _PatchMerging(nn.Module):
    dim: int

    @nn.compact
    def __call__(self, x):
        _, _, h, w, _ = x.shape
        x = jnp.pad(x, ((0, 0), (0, 0), (0, h % 2), (0, w % 2), (0, 0)))
        x = jnp.concatenate([x[:, :, 0::2, 0::2], x[:, :, 1::2, 0::2], x[:, :, 0::2, 1::2], x[:, :, 1::2, 1::2]], -1)
        return nn.Dense(2 * self.dim, use_bias=False, name="reduction")(_layer_norm("norm")(x))


class _PatchEmbed3D(nn.Module):
    patch_size: tuple[int, int, int]
    embed_dim: int
    norm: bool

    @nn.compact
    def __call__(self, x):
        pads = [(-s) % p for s, p in zip(x.shape[1:4], self.patch_size)]
        x = jnp.pad(x, ((0, 0), (0, pads[0]), (0, pads[1]), (0, pads[2]), (0, 0)))
        x = nn.Conv(self.embed_dim, self.patch_size, strides=self.patch_size, padding="VALID", name="proj")(x)
        return _layer_norm("norm")(x) if self.norm else x


class Swin3D(nn.Module):
    """``SwinTransformer3D.forward`` (inference): ``(B, T, H, W, 3)`` -> normalised features
    ``(B, T', H', W', num_features)``."""

    cfg: Swin3DConfig

    @nn.compact
    def __call__(self, x):
        cfg = self.cfg
        x = _PatchEmbed3D(cfg.patch_size, cfg.embed_dim, cfg.patch_norm, name="patch_embed")(x)
        last = len(cfg.depths) - 1
        for i, depth in enumerate(cfg.depths):
            dim = cfg.embed_dim * 2**i
            window = cfg.stage_window(i)
            half = tuple(n // 2 for n in window)
            for j in range(depth):
                x = SwinBlock3D(
                    dim, cfg.num_heads[i], window, (0, 0, 0) if j % 2 == 0 else half, cfg.mlp_ratio,
                    cfg.qkv_bias, bool(cfg.frag_biases[i]), name=f"layers.{i}.blocks.{j}",
                )(x)
            if i < last:
                x = _PatchMerging(dim, name=f"layers.{i}.downsample")(x)
        return _layer_norm("norm")(x)
