"""Teacher pre-training: the plain diffusion loss on VAE latents (v-prediction, see
:func:`~hummingbird_jax.training.losses.denoising_loss`), with 10 % of captions dropped to ``""`` so
classifier-free guidance works at sampling time.

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

from hummingbird_jax import registry
from hummingbird_jax.diffusion.sampling import DEFAULT_FPS
from hummingbird_jax.models.unet3d import init_unet
from hummingbird_jax.toy_world.fitting import fit
from hummingbird_jax.training.losses import denoising_loss


@dataclasses.dataclass(frozen=True)
class TeacherTrainConfig:
    steps: int = 2000
    batch_size: int = 8
    lr: float = 1e-3
    warmup: int = 50
    clip: float = 1.0
    uncond_prob: float = 0.1
    min_snr_gamma: float = 0.0  # Min-SNR off: it mutes the steps where motion is decided (denoising_loss)
    noise_offset: float = 0.1
    ema_decay: float = 0.99
    seed: int = 4
    unet: str = "toy-teacher"  # registry name of the teacher's U-Net


TOY_TEACHER, TOY_STUDENT = TeacherTrainConfig.unet, "toy-student"  # registry names


def train_teacher(latents: np.ndarray, contexts: np.ndarray, uncond: np.ndarray,
                  cfg: TeacherTrainConfig = TeacherTrainConfig(), *, fps: int = DEFAULT_FPS, params=None, ema=None,
                  start_step: int = 0, progress: bool = True, on_chunk=None, chunk: int = 200):
    """``latents (N, T, h, w, 4)``, ``contexts (N, L, D)`` (one per clip, L the text context length), ``uncond (L, D)``;
    ``fps`` the clips' frame rate (the U-Net's fps condition).

    Returns ``(EMA params, history)``. ``on_chunk({'params', 'ema'}, step, history)`` is called every
    ``chunk`` steps (the demo checkpoints there, so an interrupted run resumes from
    ``start_step``/``params``/``ema``).
    """
    ucfg = registry.unet(cfg.unet)
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
        return {"latents": latents[idx], "context": contexts[idx], "fps": np.full((cfg.batch_size,), fps, np.int32)}

    def loss(p, batch, key):
        return denoising_loss(p, ucfg, batch, key, uncond, uncond_prob=cfg.uncond_prob,
                              min_snr_gamma=cfg.min_snr_gamma, noise_offset=cfg.noise_offset)

    return fit(loss, params, optimizer, batch_at, cfg.steps, seed=cfg.seed, desc="teacher", progress=progress,
               ema_decay=cfg.ema_decay, ema=ema, start_step=start_step, on_chunk=on_chunk, chunk=chunk)
