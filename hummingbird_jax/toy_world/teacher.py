"""Teacher pre-training: the plain eps-prediction diffusion loss on VAE latents (the VC2 recipe at toy
scale), with 10 % of captions dropped to ``""`` so classifier-free guidance works at sampling time.

The training engine's stages start from a trained teacher; this is the stage before them, a short
loop (optax + ``jax.jit``) in the engine's conventions: the loss is a pure function of
``(params, batch, rng)``, every random draw comes from an explicit key.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax

from hummingbird_jax.diffusion.schedule import NUM_TRAIN_TIMESTEPS, add_noise, alphas_cumprod
from hummingbird_jax.models.unet3d import UNet3D, init_unet
from hummingbird_jax.models.unet_config import UNet3DConfig
from hummingbird_jax import registry
from hummingbird_jax.toy_world.fitting import fit


@dataclasses.dataclass(frozen=True)
class TeacherTrainConfig:
    steps: int = 2000
    batch_size: int = 8
    lr: float = 1e-3
    warmup: int = 50
    clip: float = 1.0
    uncond_prob: float = 0.1
    min_snr_gamma: float = 5.0
    noise_offset: float = 0.1
    ema_decay: float = 0.99
    fps: int = 8
    seed: int = 4


def toy_teacher_config() -> UNet3DConfig:
    """The engine's ``tiny-teacher``: VC2's block structure (2 res blocks per level, middle block)."""
    return registry.unet("tiny-teacher")


def diffusion_loss(params, cfg: UNet3DConfig, batch: dict, rng, uncond, uncond_prob: float,
                   min_snr_gamma: float = 0.0, noise_offset: float = 0.0):
    """MSE between the U-Net's eps and the noise added at ``t ~ U{0..999}`` (captions dropped with
    probability ``uncond_prob``). ``min_snr_gamma`` > 0 weights each sample by ``min(SNR, γ)/SNR``
    (Min-SNR, Hang et al. 2023): the nearly clean timesteps, whose fine detail dominates an eps loss,
    stop drowning out the noisy ones where layout and the caption's content are decided.

    ``noise_offset`` adds a per-clip, per-channel constant of that standard deviation to the noise
    ("offset noise"). VC2's schedule leaves √ᾱ ≈ 0.07 of the clip at t = 999, and averaged over a
    clip's latents that is enough to read a plain background's brightness off pure noise: the U-Net
    learns to take it from the noise instead of the caption, and samples get a random background.
    The offset hides that channel mean."""
    k_t, k_noise, k_drop, k_offset = jax.random.split(rng, 4)
    x0 = batch["latents"]
    b = x0.shape[0]
    t = jax.random.randint(k_t, (b,), 0, NUM_TRAIN_TIMESTEPS)
    noise = jax.random.normal(k_noise, x0.shape, jnp.float32)
    offset_shape = (b,) + (1,) * (x0.ndim - 2) + (x0.shape[-1],)
    noise = noise + noise_offset * jax.random.normal(k_offset, offset_shape, jnp.float32)
    drop = jax.random.bernoulli(k_drop, uncond_prob, (b, 1, 1))
    context = jnp.where(drop, uncond[None], batch["context"])
    eps = UNet3D(cfg).apply({"params": params}, add_noise(x0, noise, t), t, context, fps=batch["fps"])
    per_sample = jnp.mean(jnp.square(eps.astype(jnp.float32) - noise), axis=tuple(range(1, x0.ndim)))
    if min_snr_gamma > 0:
        a = jnp.asarray(alphas_cumprod())[t]
        snr = a / (1.0 - a)
        per_sample = per_sample * jnp.minimum(snr, min_snr_gamma) / snr
    return jnp.mean(per_sample)


def train_teacher(latents: np.ndarray, contexts: np.ndarray, uncond: np.ndarray,
                  cfg: TeacherTrainConfig = TeacherTrainConfig(), params=None, ema=None, start_step: int = 0,
                  progress: bool = True, on_chunk=None, chunk: int = 200):
    """``latents (N, T, h, w, 4)``, ``contexts (N, L, D)`` (one per clip, L the text context length), ``uncond (L, D)``.

    Returns ``(EMA params, history)``. ``on_chunk({'params', 'ema'}, step, history)`` is called every
    ``chunk`` steps (the demo checkpoints there, so an interrupted run resumes from
    ``start_step``/``params``/``ema``).
    """
    ucfg = toy_teacher_config()
    if params is None:
        params = init_unet(ucfg, jax.random.key(cfg.seed), frames=latents.shape[1], height=latents.shape[2],
                           width=latents.shape[3])
    schedule = optax.warmup_cosine_decay_schedule(0.0, cfg.lr, cfg.warmup, max(cfg.steps, cfg.warmup + 1),
                                                  end_value=0.1 * cfg.lr)
    optimizer = optax.chain(optax.clip_by_global_norm(cfg.clip), optax.adamw(schedule, weight_decay=0.0))
    uncond = jnp.asarray(uncond)

    def batch_at(i):
        idx = np.random.default_rng((cfg.seed, i)).choice(len(latents), cfg.batch_size,
                                                          replace=len(latents) < cfg.batch_size)
        return {"latents": latents[idx], "context": contexts[idx], "fps": np.full((cfg.batch_size,), cfg.fps, np.int32)}

    def loss(p, batch, key):
        return diffusion_loss(p, ucfg, batch, key, uncond, cfg.uncond_prob, cfg.min_snr_gamma, cfg.noise_offset)

    return fit(loss, params, optimizer, batch_at, cfg.steps, seed=cfg.seed, desc="teacher", progress=progress,
               ema_decay=cfg.ema_decay, ema=ema, start_step=start_step, on_chunk=on_chunk, chunk=chunk)
