"""Small building blocks shared by the U-Net parts: normalisation in fp32 and layers that carry
logical axis names, so a training mesh can shard every parameter by name.

Logical axes used: ``in`` / ``out`` for the feature dimensions of kernels, ``kernel`` for spatial and
temporal kernel taps, ``norm`` for norm scales/biases. The training code maps them to mesh axes.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

Dtype = Any


class Layer(nn.Module, kw_only=True):
    """Base of the U-Net parts: the compute and parameter dtypes every one of them carries, given by
    keyword (subclasses declare their own fields positionally)."""

    dtype: Dtype = jnp.float32
    param_dtype: Dtype = jnp.float32

    def dtypes(self) -> dict:
        """The dtype fields as keywords, for the layers this one builds."""
        return dict(dtype=self.dtype, param_dtype=self.param_dtype)


class RegularisedLayer(Layer, kw_only=True):
    """A :class:`Layer` with dropout, active only when ``deterministic`` is False."""

    dropout: float = 0.0
    deterministic: bool = True

    def regularised(self) -> dict:
        """:meth:`dtypes` plus the dropout fields."""
        return dict(self.dtypes(), dropout=self.dropout, deterministic=self.deterministic)


def _init(init, axes):
    return nn.with_logical_partitioning(init, axes)


def dense(features: int, name: str, *, dtype: Dtype, param_dtype: Dtype, use_bias: bool = True) -> nn.Dense:
    return nn.Dense(
        features, use_bias=use_bias, name=name, dtype=dtype, param_dtype=param_dtype,
        kernel_init=_init(nn.initializers.lecun_normal(), ("in", "out")),
        bias_init=_init(nn.initializers.zeros_init(), ("out",)),
    )


def conv(features: int, kernel: tuple[int, ...], name: str, *, dtype: Dtype, param_dtype: Dtype,
         strides: int = 1, padding: Any = "SAME") -> nn.Conv:
    """2-D or 3-D convolution; padding defaults to symmetric ``k // 2`` (PyTorch's ``padding=k//2``)."""
    if padding == "SAME":
        padding = tuple((k // 2, k // 2) for k in kernel)
    return nn.Conv(
        features, kernel, strides=strides, padding=padding, name=name, dtype=dtype, param_dtype=param_dtype,
        kernel_init=_init(nn.initializers.lecun_normal(), ("kernel",) * len(kernel) + ("in", "out")),
        bias_init=_init(nn.initializers.zeros_init(), ("out",)),
    )


class GroupNorm(nn.Module):
    """GroupNorm over ``(N, L, C)``: statistics per sample and group across ``L`` and the group's
    channels, always in float32 (bf16 statistics drift visibly over thousands of positions).

    Callers choose the scope by how they fold axes into ``L``: per frame ``(b·t, h·w, c)`` or
    across frames ``(b, t·h·w, c)``.
    """

    num_groups: int = 32
    epsilon: float = 1e-5
    param_dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        n, length, channels = x.shape
        scale = self.param("scale", _init(nn.initializers.ones_init(), ("norm",)), (channels,), self.param_dtype)
        bias = self.param("bias", _init(nn.initializers.zeros_init(), ("norm",)), (channels,), self.param_dtype)
        groups = x.astype(jnp.float32).reshape(n, length, self.num_groups, channels // self.num_groups)
        mean = jnp.mean(groups, axis=(1, 3), keepdims=True)
        var = jnp.mean(jnp.square(groups - mean), axis=(1, 3), keepdims=True)
        normed = ((groups - mean) * jnp.reciprocal(jnp.sqrt(var + self.epsilon))).reshape(n, length, channels)
        return (normed * scale.astype(jnp.float32) + bias.astype(jnp.float32)).astype(x.dtype)


def layer_norm(name: str, *, param_dtype: Dtype, epsilon: float = 1e-5) -> nn.LayerNorm:
    """LayerNorm with PyTorch's eps, computed and returned in float32 (cast back at the call site)."""
    return nn.LayerNorm(
        epsilon=epsilon, dtype=jnp.float32, param_dtype=param_dtype, use_fast_variance=False, name=name,
        scale_init=_init(nn.initializers.ones_init(), ("norm",)),
        bias_init=_init(nn.initializers.zeros_init(), ("norm",)),
    )
