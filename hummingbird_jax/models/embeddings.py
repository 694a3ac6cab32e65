"""The U-Net's sinusoidal conditioning embeddings: timesteps and fps, and the guidance scale of the
consistency-distilled students (fed to ``time_cond_proj``).

They live with the models, below :mod:`hummingbird_jax.diffusion`, so that the U-Net depends on no
sampling code and the diffusion package may build U-Net samplers.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np


def _sinusoid(args: jnp.ndarray, cos_first: bool, dim: int) -> jnp.ndarray:
    pair = [jnp.cos(args), jnp.sin(args)] if cos_first else [jnp.sin(args), jnp.cos(args)]
    emb = jnp.concatenate(pair, axis=-1)
    if dim % 2:
        emb = jnp.pad(emb, [(0, 0)] * (emb.ndim - 1) + [(0, 1)])
    return emb


def timestep_embedding(t, dim: int, max_period: float = 10000.0) -> jnp.ndarray:
    """U-Net timestep (and fps) embedding: ``[cos(t·f), sin(t·f)]``, ``f_i = max_period^(−i/half)``.

    ``t`` has any shape ``(...)``; the result is float32 ``(..., dim)`` (an odd ``dim`` gets a zero
    last column).
    """
    half = dim // 2
    freqs = np.exp(-math.log(max_period) * np.arange(half, dtype=np.float64) / half).astype(np.float32)
    args = jnp.asarray(t, jnp.float32)[..., None] * freqs
    return _sinusoid(args, cos_first=True, dim=dim)


def guidance_embedding(w, dim: int = 256, max_period: float = 10000.0) -> jnp.ndarray:
    """Guidance-scale embedding fed to ``time_cond_proj`` (T2V-Turbo students).

    Differs from :func:`timestep_embedding` on purpose, as in the official code: the argument is
    ``w·1000``, the frequencies are divided by ``half − 1`` (not ``half``), and sin comes first.
    ``w`` has any shape ``(...)``; the result is float32 ``(..., dim)``.
    """
    half = dim // 2
    freqs = np.exp(-math.log(max_period) * np.arange(half, dtype=np.float64) / (half - 1)).astype(np.float32)
    args = (jnp.asarray(w, jnp.float32) * 1000.0)[..., None] * freqs
    return _sinusoid(args, cos_first=False, dim=dim)
