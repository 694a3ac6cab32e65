"""Sampling the toy models the way each is meant to be used, timed, with its cost counted.

* teacher (and the pruned, undistilled student): VC2's DDIM (eta 1) with classifier-free guidance;
* stage-1 student: DDIM without a CFG pass (it learned the guided noise);
* stage-2 student: LCM multistep sampling with the guidance embedding ``w`` and no CFG pass.

The toy models are trained on the plain latent, so VC2's ``scale_arr`` correction is off (the
:class:`~hummingbird_jax.diffusion.sampling.SamplerSpec` default). Sampling itself is
:func:`hummingbird_jax.diffusion.sampling.make_sampler`, as in inference and training.
"""

from __future__ import annotations

import functools
import time

import jax
import jax.numpy as jnp
import numpy as np

from hummingbird_jax.diffusion.sampling import SamplerSpec, make_sampler
from hummingbird_jax.models.unet3d import unet_param_shapes
from hummingbird_jax.models.unet_config import UNet3DConfig
from hummingbird_jax.models.unet_stats import count_params, forward_flops
from hummingbird_jax.models.vae import VAEConfig, decode_video_latents


def sample_latents(cfg: UNet3DConfig, params, spec: SamplerSpec, context, uncond, noise_key, latent_shape):
    """Latents ``(B, *latent_shape)`` for contexts ``(B, L, D)``; ``uncond (L, D)``."""
    x_t = jax.random.normal(noise_key, (context.shape[0], *latent_shape), jnp.float32)
    return make_sampler(cfg, spec)(params, context, uncond, x_t, jax.random.fold_in(noise_key, 1))


@functools.partial(jax.jit, static_argnums=2)
def _decode(vae_params, latents, vae_cfg: VAEConfig):  # compiled once per VAE and shape, for every model
    return decode_video_latents(vae_params, latents, vae_cfg, chunk_size=8, remat=False)


def compile_sampler(cfg: UNet3DConfig, params, spec: SamplerSpec, uncond, *, latent_shape, batch_size: int):
    """The sampling program for batches of ``batch_size`` contexts, compiled ahead of time (compiling
    releases the GIL, so several models' samplers can compile on parallel threads)."""
    fn = jax.jit(lambda p, c, u, k: sample_latents(cfg, p, spec, c, u, k, latent_shape))
    contexts = jax.ShapeDtypeStruct((batch_size, *np.shape(uncond)), jnp.float32)
    return fn.lower(params, contexts, jnp.asarray(uncond), jax.random.key(0)).compile()


def generate(cfg: UNet3DConfig, params, vae_cfg: VAEConfig, vae_params, spec: SamplerSpec, contexts, uncond,
             *, seed: int, latent_shape, batch_size: int = 8, compiled=None):
    """Videos in [-1, 1] ``(N, T, H, W, 3)`` for ``contexts`` and the mean seconds per video of the
    U-Net sampling (timed after compilation; ``compiled`` from :func:`compile_sampler`, else compiled
    here). A last, partial batch is padded to ``batch_size`` and its padding dropped."""
    if compiled is None:
        compiled = compile_sampler(cfg, params, spec, uncond, latent_shape=latent_shape, batch_size=batch_size)
    contexts, uncond = np.asarray(contexts, np.float32), jnp.asarray(uncond)
    key = jax.random.key(seed)
    videos, seconds = [], 0.0
    for i in range(0, len(contexts), batch_size):
        part = contexts[i:i + batch_size]
        batch = np.concatenate([part, np.repeat(part[-1:], batch_size - len(part), 0)])
        t0 = time.perf_counter()
        z = jax.block_until_ready(compiled(params, jnp.asarray(batch), uncond, jax.random.fold_in(key, i)))
        seconds += time.perf_counter() - t0
        videos.append(np.asarray(_decode(vae_params, z, vae_cfg))[:len(part)])
    return np.clip(np.concatenate(videos), -1.0, 1.0), seconds / len(contexts)


def cost(cfg: UNet3DConfig, spec: SamplerSpec, latent_shape) -> dict:
    """Parameters of the U-Net and FLOPs of sampling one video with ``spec``."""
    params, flops = _unet_cost(cfg, tuple(latent_shape))
    return {"params": params, "flops": spec.unet_calls * flops}


@functools.lru_cache(maxsize=None)
def _unet_cost(cfg: UNet3DConfig, latent_shape: tuple) -> tuple[int, float]:
    """Parameter count and FLOPs of one forward (XLA's cost analysis traces the U-Net: done once per model)."""
    frames, h, w, _ = latent_shape
    return count_params(unet_param_shapes(cfg)), forward_flops(cfg, frames, h, w)


def temporal_consistency(videos: np.ndarray) -> float:
    """Mean Pearson correlation of consecutive frames' pixels (1: frames move smoothly / agree)."""
    a = videos[:, :-1].reshape(videos.shape[0], videos.shape[1] - 1, -1)
    b = videos[:, 1:].reshape(a.shape)
    a = a - a.mean(-1, keepdims=True)
    b = b - b.mean(-1, keepdims=True)
    corr = (a * b).sum(-1) / np.maximum(np.sqrt((a * a).sum(-1) * (b * b).sum(-1)), 1e-8)
    return float(corr.mean())
