"""Samplers as pure functions over a model function.

Every sampler takes ``model_fn(x, t) -> eps`` (``x`` a latent batch, ``t`` int32 ``(batch,)``) and runs
its whole loop as one ``lax.scan``, so the loop body (the U-Net call) is traced and compiled once
whatever the number of steps. Nothing here is jitted by itself: wrap the call in ``jax.jit`` with the
model parameters as arguments (closing over them would bake them into the program as constants).

Noise is either a PRNG key (step ``i`` draws from ``fold_in(key, i)``) or an explicit float array
``(steps, *latents.shape)``, which is what reproducible tests and cross-framework parity need. The
sampler arithmetic runs in float32 whatever dtype ``model_fn`` computes in.

Three samplers:

* :func:`lcm_sample`, the consistency-distilled student (T2V-Turbo / Hummingbird): one U-Net call per
  step, no CFG pass (guidance enters through the U-Net's guidance embedding).
* :func:`ddim_sample`, the VideoCrafter2 teacher: DDIM with eta, classifier-free guidance and VC2's
  ``scale_arr`` correction.
* :func:`ddim_solver_step`, the one deterministic (eta 0) DDIM jump over the 50-step solver grid that
  consistency distillation uses to step the teacher from ``t_n`` to ``t_{n−k}``.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from hummingbird_jax.diffusion.schedule import (
    NUM_TRAIN_TIMESTEPS,
    alphas_cumprod,
    boundary_scalings,
    scale_arr,
    take_per_sample,
)

ModelFn = Callable[[jnp.ndarray, jnp.ndarray], jnp.ndarray]

# VideoCrafter2 sampling defaults (its released inference script).
VC2_DDIM_STEPS = 50
VC2_DDIM_ETA = 1.0
VC2_GUIDANCE_SCALE = 12.0
# Hummingbird / T2V-Turbo defaults.
LCM_STEPS = 4
LCM_GUIDANCE_SCALE = 7.5
# The DDIM grid of stage-2 distillation: the student learns consistency on this grid, and LCM sampling
# draws its timesteps from the same grid, so the two are one constant.
SOLVER_DDIM_STEPS = 50
LCM_ORIGIN_STEPS = SOLVER_DDIM_STEPS


# ---------------------------------------------------------------------------------------------------
# noise
# ---------------------------------------------------------------------------------------------------


def _is_prng_key(noise) -> bool:
    if isinstance(noise, jax.Array) and jnp.issubdtype(noise.dtype, jax.dtypes.prng_key):
        return True
    return jnp.asarray(noise).dtype == jnp.uint32 and jnp.shape(noise) == (2,)


def _step_noise(noise, num_steps: int, shape, *, min_steps: int) -> jnp.ndarray | None:
    """Validate explicit noise as float32 ``(num_steps, *shape)``; ``None`` for a PRNG key.

    ``min_steps`` lets a sampler whose last step draws no noise accept one array fewer; the missing
    rows are zero-filled (they are never read).
    """
    if _is_prng_key(noise):
        return None
    noise = jnp.asarray(noise, jnp.float32)
    if noise.shape[1:] != tuple(shape) or not min_steps <= noise.shape[0] <= num_steps:
        want = f"({num_steps}, {', '.join(map(str, shape))})"
        raise ValueError(f"noise has shape {noise.shape}; expected a PRNG key or an array {want}")
    if noise.shape[0] < num_steps:
        noise = jnp.concatenate([noise, jnp.zeros((num_steps - noise.shape[0],) + noise.shape[1:])], 0)
    return noise


def _draw(key, index, shape) -> jnp.ndarray:
    return jax.random.normal(jax.random.fold_in(key, index), shape, jnp.float32)


# ---------------------------------------------------------------------------------------------------
# LCM multistep (student)
# ---------------------------------------------------------------------------------------------------


def lcm_timesteps(
    num_steps: int, origin_steps: int = LCM_ORIGIN_STEPS, num_train_timesteps: int = NUM_TRAIN_TIMESTEPS
) -> np.ndarray:
    """LCM inference timesteps, descending int32: every ``origin_steps // num_steps``-th of the origin
    grid ``t = c−1, 2c−1, …, T−1`` (``c = T // origin_steps``) counted from the end.

    4 of 50 → ``[999, 759, 519, 279]``; 8 of 50 → ``[999, 879, …, 159]``.
    """
    if not 1 <= origin_steps <= num_train_timesteps:
        raise ValueError(f"origin_steps={origin_steps}; expected 1..{num_train_timesteps}")
    if not 1 <= num_steps <= origin_steps:
        raise ValueError(f"num_steps={num_steps}; expected 1..origin_steps ({origin_steps})")
    c = num_train_timesteps // origin_steps
    origin = np.arange(1, origin_steps + 1) * c - 1
    return origin[:: -(origin_steps // num_steps)][:num_steps].astype(np.int32)


def lcm_step(sample, model_output, timestep, prev_timestep, noise):
    """One LCM multistep update → ``(prev_sample, denoised)``.

    ``x0 = (x − √(1−ᾱ_t)·eps)/√ᾱ_t``, ``denoised = c_out(t)·x0 + c_skip(t)·x`` and the next sample
    re-noises ``denoised`` to ``prev_timestep``. Timesteps are scalars or ``(batch,)``.
    """
    ac = alphas_cumprod()
    nd = jnp.ndim(sample)
    a_t = take_per_sample(ac, timestep, nd)
    a_prev = take_per_sample(ac, prev_timestep, nd)
    c_skip, c_out = boundary_scalings(timestep)
    c_skip = c_skip.reshape(c_skip.shape + (1,) * (nd - c_skip.ndim))
    c_out = c_out.reshape(c_out.shape + (1,) * (nd - c_out.ndim))
    x0 = (sample - jnp.sqrt(1.0 - a_t) * model_output) / jnp.sqrt(a_t)
    denoised = c_out * x0 + c_skip * sample
    prev_sample = jnp.sqrt(a_prev) * denoised + jnp.sqrt(1.0 - a_prev) * noise
    return prev_sample, denoised


def lcm_sample(model_fn: ModelFn, latents, timesteps, noise) -> jnp.ndarray:
    """Consistency-model multistep sampling → the final denoised latents (float32).

    ``latents``: the initial noise ``x_T``, any shape with the batch first. ``timesteps``: descending
    ints, e.g. :func:`lcm_timesteps`. ``noise``: a PRNG key, or float ``(steps, *latents.shape)`` where
    row ``i`` re-noises after step ``i`` (the last row is never used, so ``steps − 1`` rows are also
    accepted). ``model_fn(x, t)`` gets ``t`` as int32 ``(batch,)`` and returns eps like ``x``.
    """
    latents = jnp.asarray(latents, jnp.float32)
    timesteps = jnp.asarray(timesteps, jnp.int32)
    if timesteps.ndim != 1 or timesteps.shape[0] < 1:
        raise ValueError(f"timesteps has shape {timesteps.shape}; expected a non-empty 1-D array")
    steps, batch = timesteps.shape[0], latents.shape[0]
    explicit = _step_noise(noise, steps, latents.shape, min_steps=steps - 1)
    # The last step re-noises to its own timestep (as the official scheduler does); that sample is dropped.
    prev_timesteps = jnp.concatenate([timesteps[1:], timesteps[-1:]])

    def body(carry, xs):
        x, _ = carry
        i, t, t_prev = xs[:3]
        step_noise = xs[3] if explicit is not None else _draw(noise, i, latents.shape)
        eps = model_fn(x, jnp.full((batch,), t, jnp.int32)).astype(jnp.float32)
        return lcm_step(x, eps, t, t_prev, step_noise), None

    xs = (jnp.arange(steps), timesteps, prev_timesteps) + ((explicit,) if explicit is not None else ())
    (_, denoised), _ = jax.lax.scan(body, (latents, jnp.zeros_like(latents)), xs)
    return denoised


# ---------------------------------------------------------------------------------------------------
# DDIM with classifier-free guidance (VideoCrafter2 teacher)
# ---------------------------------------------------------------------------------------------------


def classifier_free_guidance(cond, uncond, scale):
    """``uncond + scale·(cond − uncond)`` (VC2 convention: scale 1 is the conditional prediction)."""
    return uncond + scale * (cond - uncond)


def vc2_ddim_timesteps(num_steps: int = VC2_DDIM_STEPS, num_train_timesteps: int = NUM_TRAIN_TIMESTEPS):
    """VC2's "uniform" DDIM grid, ascending int32: ``range(0, T, T // num_steps) + 1``.

    50 steps → ``[1, 21, …, 981]``. Like the official code, a ``num_steps`` that does not divide ``T``
    yields one or more extra steps (``len(range(0, T, c))``).
    """
    if not 1 <= num_steps <= num_train_timesteps:
        raise ValueError(f"num_steps={num_steps}; expected 1..{num_train_timesteps}")
    grid = _uniform_grid(num_steps, num_train_timesteps)
    if grid[-1] >= num_train_timesteps:  # the official grid then indexes past ᾱ's last entry
        fits = min((n for n in range(1, num_train_timesteps + 1)
                    if _uniform_grid(n, num_train_timesteps)[-1] < num_train_timesteps),
                   key=lambda n: (abs(n - num_steps), -n))
        raise ValueError(f"{num_steps} DDIM steps: VC2's uniform grid would end at timestep {grid[-1]}, past the "
                         f"last ({num_train_timesteps - 1}); choose another step count (e.g. {fits})")
    return grid


def _uniform_grid(num_steps: int, num_train_timesteps: int) -> np.ndarray:
    return (np.arange(0, num_train_timesteps, num_train_timesteps // num_steps) + 1).astype(np.int32)


class DDIMSchedule(NamedTuple):
    """Per-step tables of a DDIM run, indexed by step ``index`` (0 = the smallest timestep)."""

    timesteps: np.ndarray  # int32 (n,)
    alphas: np.ndarray  # ᾱ at timesteps[index]
    alphas_prev: np.ndarray  # ᾱ at timesteps[index − 1]; ᾱ_0 for index 0
    sigmas: np.ndarray  # eta·√((1−ᾱ_prev)/(1−ᾱ)·(1−ᾱ/ᾱ_prev))
    scales: np.ndarray  # VC2 scale_arr at timesteps[index]
    scales_prev: np.ndarray  # scale_arr at timesteps[index − 1]; scale_arr[0] for index 0


def vc2_ddim_schedule(num_steps: int = VC2_DDIM_STEPS, eta: float = VC2_DDIM_ETA) -> DDIMSchedule:
    ts = vc2_ddim_timesteps(num_steps)
    ac = alphas_cumprod().astype(np.float64)
    sc = scale_arr().astype(np.float64)
    a, a_prev = ac[ts], np.concatenate([ac[:1], ac[ts[:-1]]])
    sigmas = eta * np.sqrt((1.0 - a_prev) / (1.0 - a) * (1.0 - a / a_prev))
    s, s_prev = sc[ts], np.concatenate([sc[:1], sc[ts[:-1]]])
    f32 = lambda v: v.astype(np.float32)  # noqa: E731
    return DDIMSchedule(ts, f32(a), f32(a_prev), f32(sigmas), f32(s), f32(s_prev))


def ddim_sample(
    model_fn: ModelFn,
    latents,
    noise,
    *,
    num_steps: int = VC2_DDIM_STEPS,
    eta: float = VC2_DDIM_ETA,
    guidance_scale: float | None = VC2_GUIDANCE_SCALE,
    use_scale: bool = True,
) -> jnp.ndarray:
    """VideoCrafter2 DDIM sampling from ``x_T = latents`` → final latents (float32).

    Classifier-free guidance in one batched call: with a ``guidance_scale``, ``model_fn`` receives a
    doubled batch ``concat([x, x])`` (and ``t`` likewise); rows ``[0, b)`` must be conditioned on the
    prompt and rows ``[b, 2b)`` on the unconditional context (the encoding of ``""``), i.e. the caller
    binds ``context = concat([cond, uncond])``. With ``guidance_scale=None`` there is no CFG and
    ``model_fn`` gets the plain batch. ``use_scale`` applies VC2's ``scale_arr`` correction
    (``x0 /= s_t``, re-scaled by ``s_prev`` on the way down); turn it off for models not trained with it.

    ``noise``: a PRNG key or float ``(steps, *latents.shape)`` where row ``i`` is the noise of the
    ``i``-th update (descending time); with eta > 0 every step, the last included, adds noise.
    """
    sched = vc2_ddim_schedule(num_steps, eta)
    steps = sched.timesteps.shape[0]
    latents = jnp.asarray(latents, jnp.float32)
    batch = latents.shape[0]
    explicit = _step_noise(noise, steps, latents.shape, min_steps=steps)
    order = np.arange(steps)[::-1]  # step index, largest timestep first
    per_step = [jnp.asarray(v[order]) for v in sched]

    def body(x, xs):
        i, t, a, a_prev, sigma, s, s_prev = xs[:7]
        step_noise = xs[7] if explicit is not None else _draw(noise, i, latents.shape)
        if guidance_scale is None:
            eps = model_fn(x, jnp.full((batch,), t, jnp.int32)).astype(jnp.float32)
        else:
            both = model_fn(jnp.concatenate([x, x]), jnp.full((2 * batch,), t, jnp.int32))
            eps = classifier_free_guidance(both[:batch], both[batch:], guidance_scale).astype(jnp.float32)
        pred_x0 = (x - jnp.sqrt(1.0 - a) * eps) / jnp.sqrt(a)
        dir_xt = jnp.sqrt(jnp.maximum(1.0 - a_prev - sigma**2, 0.0)) * eps
        if use_scale:
            pred_x0 = pred_x0 * (s_prev / s)
        return jnp.sqrt(a_prev) * pred_x0 + dir_xt + sigma * step_noise, None

    xs = (jnp.arange(steps), *per_step) + ((explicit,) if explicit is not None else ())
    x, _ = jax.lax.scan(body, latents, xs)
    return x


# ---------------------------------------------------------------------------------------------------
# one-step DDIM ODE solver (consistency distillation)
# ---------------------------------------------------------------------------------------------------


class DDIMSolverSchedule(NamedTuple):
    """The solver grid, indexed by ``index`` in ``0..n−1``."""

    timesteps: np.ndarray  # int32 t_n = (index+1)·k − 1: 19, 39, …, 999 for 50 steps
    prev_timesteps: np.ndarray  # int32 t_{n−k} = max(t_n − k, 0)
    alphas: np.ndarray  # ᾱ at t_n
    alphas_prev: np.ndarray  # ᾱ at t_{n−k} (ᾱ_0 for index 0)
    skip: int  # k = T // n


def ddim_solver_schedule(
    num_ddim_steps: int = SOLVER_DDIM_STEPS, num_train_timesteps: int = NUM_TRAIN_TIMESTEPS
) -> DDIMSolverSchedule:
    if not 1 <= num_ddim_steps <= num_train_timesteps:
        raise ValueError(f"num_ddim_steps={num_ddim_steps}; expected 1..{num_train_timesteps}")
    k = num_train_timesteps // num_ddim_steps
    ts = (np.arange(1, num_ddim_steps + 1) * k - 1).astype(np.int32)
    ac = alphas_cumprod(num_train_timesteps)
    prev = np.maximum(ts - k, 0).astype(np.int32)
    return DDIMSolverSchedule(ts, prev, ac[ts], np.concatenate([ac[:1], ac[ts[:-1]]]), k)


def ddim_solver_step(pred_x0, pred_eps, index, num_ddim_steps: int = SOLVER_DDIM_STEPS):
    """Deterministic DDIM jump from solver step ``index`` (t_n) to t_{n−k}:
    ``√ᾱ_prev·x0 + √(1−ᾱ_prev)·eps``. ``index`` is a scalar or int ``(batch,)``."""
    a_prev = take_per_sample(ddim_solver_schedule(num_ddim_steps).alphas_prev, index, jnp.ndim(pred_x0))
    return jnp.sqrt(a_prev) * pred_x0 + jnp.sqrt(1.0 - a_prev) * pred_eps
