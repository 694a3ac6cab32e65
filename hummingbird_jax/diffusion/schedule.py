"""Noise schedule and the small closed-form pieces every sampler and loss shares (the sinusoidal
timestep and guidance embeddings are the U-Net's inputs: :mod:`hummingbird_jax.models.embeddings`).

The schedule is the latent-diffusion one used by VideoCrafter2 and T2V-Turbo: 1000 training steps,
"scaled-linear" betas (linear in √β), eps-prediction. Tables are computed once in float64 with NumPy
and handed out as float32 NumPy arrays, so they become compile-time constants inside ``jit`` and
never depend on the accelerator's transcendental functions.
"""

from __future__ import annotations

import functools

import jax.numpy as jnp
import numpy as np

NUM_TRAIN_TIMESTEPS = 1000
BETA_START = 0.00085
BETA_END = 0.012

# VideoCrafter2 trained with the clean signal scaled by ``scale_arr[t]`` (linear 1 → 0.7 over the first
# 400 steps, 0.7 after), and its DDIM sampler undoes that scaling; T2V-Turbo students ignore it.
VC2_SCALE_A = 1.0
VC2_SCALE_B = 0.7
VC2_SCALE_MID_STEP = 400

# Consistency-model boundary condition (LCM / T2V-Turbo): sigma_data 0.5, timesteps scaled by 10.
SIGMA_DATA = 0.5
TIMESTEP_SCALING = 10.0


def _betas64(num_train_timesteps: int) -> np.ndarray:
    return np.linspace(BETA_START**0.5, BETA_END**0.5, num_train_timesteps, dtype=np.float64) ** 2


def betas(num_train_timesteps: int = NUM_TRAIN_TIMESTEPS) -> np.ndarray:
    """Scaled-linear betas, ``linspace(√β_start, √β_end, T)²``, float32 ``(T,)``."""
    return _betas64(num_train_timesteps).astype(np.float32)


@functools.lru_cache(maxsize=None)
def _alphas_cumprod32(num_train_timesteps: int) -> np.ndarray:
    out = np.cumprod(1.0 - _betas64(num_train_timesteps)).astype(np.float32)
    out.flags.writeable = False  # cached and shared: nobody may modify it in place
    return out


def alphas_cumprod(num_train_timesteps: int = NUM_TRAIN_TIMESTEPS) -> np.ndarray:
    """ᾱ_t = ∏_{s≤t} (1 − β_s), float32 ``(T,)`` (read-only); ᾱ_999 ≈ 0.0046601."""
    return _alphas_cumprod32(num_train_timesteps)


def scale_arr(
    num_train_timesteps: int = NUM_TRAIN_TIMESTEPS,
    scale_a: float = VC2_SCALE_A,
    scale_b: float = VC2_SCALE_B,
    mid_step: int = VC2_SCALE_MID_STEP,
) -> np.ndarray:
    """VideoCrafter2's per-timestep signal scale, float32 ``(T,)``.

    ``linspace(scale_a, scale_b, mid_step)`` for ``t < mid_step`` and ``scale_b`` afterwards. (The
    official buffer is longer than ``T`` because of an off-by-``mid_step`` length; only its first
    ``T`` entries are ever indexed, and those are what this returns.)
    """
    head = np.linspace(scale_a, scale_b, mid_step, dtype=np.float64)
    tail = np.full(max(num_train_timesteps - mid_step, 0), scale_b, dtype=np.float64)
    return np.concatenate([head, tail])[:num_train_timesteps].astype(np.float32)


def boundary_scalings(t, sigma_data: float = SIGMA_DATA, timestep_scaling: float = TIMESTEP_SCALING):
    """Consistency-model boundary scalings ``(c_skip, c_out)`` at integer/float timesteps ``t``.

    With ``s = timestep_scaling·t``: ``c_skip = σ²/(s² + σ²)``, ``c_out = s/√(s² + σ²)``, so the
    consistency function is exactly the identity at ``t = 0`` (c_skip 1, c_out 0).
    """
    s = jnp.asarray(t, jnp.float32) * timestep_scaling
    denom = s**2 + sigma_data**2
    return sigma_data**2 / denom, s / jnp.sqrt(denom)


def take_per_sample(table: np.ndarray, t, ndim: int) -> jnp.ndarray:
    """``table[t]`` shaped to broadcast against a ``ndim``-rank batch whose leading axis matches ``t``."""
    values = jnp.take(jnp.asarray(table), jnp.asarray(t, jnp.int32))
    return values.reshape(values.shape + (1,) * (ndim - values.ndim))


def add_noise(x0, noise, t):
    """Forward process ``q(x_t | x_0)``: ``√ᾱ_t·x0 + √(1−ᾱ_t)·noise``; ``t`` scalar or ``(b,)``."""
    a = take_per_sample(alphas_cumprod(), t, jnp.ndim(x0))
    return jnp.sqrt(a) * x0 + jnp.sqrt(1.0 - a) * noise


def velocity(x0, noise, t):
    """The v-prediction target ``√ᾱ_t·noise − √(1−ᾱ_t)·x0`` (Salimans & Ho 2022)."""
    a = take_per_sample(alphas_cumprod(), t, jnp.ndim(x0))
    return jnp.sqrt(a) * noise - jnp.sqrt(1.0 - a) * x0


def eps_from_velocity(x_t, v, t):
    """The noise a v-prediction implies at ``x_t``: ``√ᾱ_t·v + √(1−ᾱ_t)·x_t``. Linear in ``v`` with
    weights that do not depend on it, so guidance mixes of v and of eps agree."""
    a = take_per_sample(alphas_cumprod(), t, jnp.ndim(x_t))
    return jnp.sqrt(a) * v + jnp.sqrt(1.0 - a) * x_t


def predicted_x0(x_t, eps, t):
    """Invert the forward process for an eps prediction: ``(x_t − √(1−ᾱ_t)·eps)/√ᾱ_t``."""
    a = take_per_sample(alphas_cumprod(), t, jnp.ndim(x_t))
    return (x_t - jnp.sqrt(1.0 - a) * eps) / jnp.sqrt(a)
