"""One way to sample a U-Net: a :class:`SamplerSpec` says how, :func:`make_sampler` builds the loop.

Inference (``hummingbird generate``), the videos written during training and the toy world's
evaluation all sample through here, so classifier-free guidance, the guidance embedding of
distilled students and VC2's ``scale_arr`` switch are decided in one place:

* ``lcm``: the consistency-distilled student (T2V-Turbo / Hummingbird). One U-Net call per step, no
  CFG pass; the guidance scale ``w`` enters through the U-Net's guidance embedding when the U-Net has
  a ``time_cond_proj``.
* ``ddim_cfg``: the VideoCrafter2 teacher. DDIM (eta 1) with classifier-free guidance: every step runs
  the batch twice, once on the prompts' context and once on the unconditional one (the encoding of
  ``""``), in one batched call.
* ``ddim``: DDIM without a CFG pass (a stage-1 student learned the guided noise).

``scale_arr`` turns on VC2's ``scale_arr`` correction; the released VideoCrafter2 samples with it,
models trained here on the plain latent sample without it.

:func:`unet_eps` reads one U-Net call as the noise it predicts, which is what samplers and losses work in.
This module is the diffusion package's one dependency on :mod:`hummingbird_jax.models`; the models import
nothing from diffusion.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax.numpy as jnp

from hummingbird_jax.diffusion.samplers import (
    LCM_GUIDANCE_SCALE,
    VC2_DDIM_ETA,
    ddim_sample,
    lcm_sample,
    lcm_timesteps,
    vc2_ddim_timesteps,
)
from hummingbird_jax.diffusion.schedule import eps_from_velocity
from hummingbird_jax.models.embeddings import guidance_embedding
from hummingbird_jax.models.unet3d import UNet3D
from hummingbird_jax.models.unet_config import UNet3DConfig

METHODS = ("ddim_cfg", "ddim", "lcm")
DEFAULT_FPS = 8  # the frame rate the released models are conditioned on
DEFAULT_FRAMES = 16  # frames per video the released models generate
DEFAULT_SIZE = (320, 512)  # (height, width) in pixels of the released models' videos


@dataclasses.dataclass(frozen=True)
class SamplerSpec:
    """How to sample: ``method`` (one of :data:`METHODS`), ``steps``, the guidance scale (CFG scale for
    ``ddim_cfg``, guidance-embedding ``w`` for ``lcm``; unused by ``ddim``), the fps conditioning and
    whether VC2's ``scale_arr`` correction is on (DDIM only)."""

    method: str
    steps: int
    guidance: float = LCM_GUIDANCE_SCALE
    fps: int = DEFAULT_FPS
    scale_arr: bool = False

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"sampler method {self.method!r}; expected one of {METHODS}")
        if self.steps < 1:
            raise ValueError(f"sampler steps={self.steps}; expected at least 1")
        if self.method in ("ddim", "ddim_cfg"):
            vc2_ddim_timesteps(self.steps)  # not every step count has a DDIM grid inside the schedule

    @property
    def guided(self) -> bool:
        """Whether each step pairs the prompts with the unconditional context (a CFG pass)."""
        return self.method == "ddim_cfg"

    @property
    def unet_calls(self) -> int:
        """U-Net forwards per video (a CFG step runs the batch twice)."""
        return self.steps * (2 if self.guided else 1)

    def replace(self, **changes) -> "SamplerSpec":
        return dataclasses.replace(self, **changes)


def unet_eps(cfg: UNet3DConfig, params, x, t, context, fps, timestep_cond=None, dropout_rng=None):
    """One U-Net call read as the noise it predicts, in float32, whatever its ``parameterization``:
    samplers and losses work in eps. Dropout is on only when a ``dropout_rng`` is given."""
    rngs = {"dropout": dropout_rng} if dropout_rng is not None else {}
    out = UNet3D(cfg).apply({"params": params}, x, t, context, fps=fps, timestep_cond=timestep_cond,
                            train=dropout_rng is not None, rngs=rngs).astype(jnp.float32)
    if cfg.parameterization == "v":
        return eps_from_velocity(x.astype(jnp.float32), out, t)
    return out


def make_sampler(unet_config: UNet3DConfig, spec: SamplerSpec) -> Callable:
    """``sample(params, context, uncond, latents, noise, *, fps=None, guidance=None) -> latents``.

    ``context (b, L, D)`` conditions the batch; ``uncond`` is the unconditional context, ``(L, D)`` or
    ``(b, L, D)`` (read only by ``ddim_cfg``). ``latents`` is ``x_T``; ``noise`` a PRNG key or explicit
    per-step noise (see :mod:`hummingbird_jax.diffusion.samplers`). ``fps`` (scalar or ``(b,)``) and
    ``guidance`` default to the spec's; pass them as arrays to keep them out of the compiled program.
    The U-Net's output is read as noise in float32 (:func:`unet_eps`)
    before any guidance arithmetic. Not jitted: wrap it with the params as an argument.
    """
    cond_dim = unet_config.time_cond_proj_dim

    def eps(params, context, fps, timestep_cond=None):
        def model_fn(x, t):
            return unet_eps(unet_config, params, x, t, context, fps, timestep_cond)

        return model_fn

    def sample(params, context, uncond, latents, noise, *, fps=None, guidance=None):
        batch = latents.shape[0]
        fps = jnp.broadcast_to(jnp.asarray(spec.fps if fps is None else fps), (batch,))
        guidance = spec.guidance if guidance is None else guidance
        if spec.method == "lcm":
            w_emb = None
            if cond_dim is not None:
                w_emb = guidance_embedding(jnp.full((batch,), guidance), cond_dim).astype(unet_config.dtype)
            return lcm_sample(eps(params, context, fps, w_emb), latents, lcm_timesteps(spec.steps), noise)
        if spec.method == "ddim":
            return ddim_sample(eps(params, context, fps), latents, noise, num_steps=spec.steps, eta=VC2_DDIM_ETA,
                               guidance_scale=None, use_scale=spec.scale_arr)
        uncond = jnp.broadcast_to(jnp.asarray(uncond).astype(context.dtype), context.shape)
        both, fps2 = jnp.concatenate([context, uncond]), jnp.concatenate([fps, fps])
        return ddim_sample(eps(params, both, fps2), latents, noise, num_steps=spec.steps, eta=VC2_DDIM_ETA,
                           guidance_scale=guidance, use_scale=spec.scale_arr)

    return sample
