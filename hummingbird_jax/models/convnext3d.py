"""ConvNeXt inflated to 3-D (DOVER's aesthetic branch; both branches of DOVER-Mobile).

The 2-D ConvNeXt with a ``2×4×4`` stem, ``1×2×2`` downsampling and depthwise ``k×7×7`` convolutions
whose temporal size ``k`` cycles through ``inflate_strategy`` ("131": 1, 3, 1, 1, 3, …) within each
stage. ``version=1`` is ConvNeXt (layer scale ``gamma``); ``version=2`` is ConvNeXt-V2 (global
response normalisation after the GELU, no layer scale). The V2 GRN takes its L2 norm over the
``(T, H)`` axes of the channels-last tensor, as the official 3-D port does (it reuses the 2-D
``dim=(1, 2)``). Output: the final-norm feature map ``(B, T', H', W', dims[-1])``.
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp

__all__ = ["ConvNeXt3DConfig", "ConvNeXt3D"]

_EPS = 1e-6


@dataclasses.dataclass(frozen=True)
class ConvNeXt3DConfig:
    depths: tuple[int, ...] = (3, 3, 9, 3)
    dims: tuple[int, ...] = (96, 192, 384, 768)
    version: int = 1
    inflate_strategy: str = "131"
    in_chans: int = 3

    def __post_init__(self):
        if len(self.depths) != 4 or len(self.dims) != 4:
            raise ValueError(f"ConvNeXt3DConfig: 4 stages expected, got depths {self.depths}, dims {self.dims}")
        if self.version not in (1, 2):
            raise ValueError(f"ConvNeXt3DConfig: version must be 1 or 2, got {self.version}")

    @property
    def num_features(self) -> int:
        return self.dims[-1]


def _layer_norm(name: str) -> nn.LayerNorm:
    return nn.LayerNorm(epsilon=_EPS, use_fast_variance=False, name=name)


class _GRN(nn.Module):
    dim: int

    @nn.compact
    def __call__(self, x):
        gamma = self.param("gamma", nn.initializers.zeros_init(), (1, 1, 1, self.dim))
        beta = self.param("beta", nn.initializers.zeros_init(), (1, 1, 1, self.dim))
        gx = jnp.sqrt(jnp.sum(jnp.square(x), axis=(1, 2), keepdims=True))
        nx = gx / (jnp.mean(gx, axis=-1, keepdims=True) + _EPS)
        return gamma * (x * nx) + beta + x


class _Block(nn.Module):
    dim: int
    temporal: int
    version: int

    @nn.compact
    def __call__(self, x):
        k = self.temporal
        y = nn.Conv(
            self.dim, (k, 7, 7), padding=((k // 2, k // 2), (3, 3), (3, 3)), feature_group_count=self.dim, name="dwconv"
        )(x)
        y = _layer_norm("norm")(y)
        y = jax.nn.gelu(nn.Dense(4 * self.dim, name="pwconv1")(y), approximate=False)
        if self.version == 2:
            y = _GRN(4 * self.dim, name="grn")(y)
        y = nn.Dense(self.dim, name="pwconv2")(y)
        if self.version == 1:
            y = self.param("gamma", nn.initializers.constant(1e-6), (self.dim,)) * y
        return x + y


class ConvNeXt3D(nn.Module):
    """``ConvNeXt3D`` / ``ConvNeXtV23D.forward`` (inference): ``(B, T, H, W, 3)`` -> features."""

    cfg: ConvNeXt3DConfig

    @nn.compact
    def __call__(self, x):
        cfg = self.cfg
        for i in range(4):
            if i == 0:
                x = nn.Conv(cfg.dims[0], (2, 4, 4), strides=(2, 4, 4), padding="VALID", name="downsample_layers.0.0")(x)
                x = _layer_norm("downsample_layers.0.1")(x)
            else:
                x = _layer_norm(f"downsample_layers.{i}.0")(x)
                x = nn.Conv(cfg.dims[i], (1, 2, 2), strides=(1, 2, 2), padding="VALID", name=f"downsample_layers.{i}.1")(x)
            for j in range(cfg.depths[i]):
                temporal = int(cfg.inflate_strategy[j % len(cfg.inflate_strategy)])
                x = _Block(cfg.dims[i], temporal, cfg.version, name=f"stages.{i}.{j}")(x)
        return _layer_norm("norm")(x)
