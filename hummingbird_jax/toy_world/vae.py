"""A small pixel-faithful VAE for the toy world: the engine's ``tiny`` AutoencoderKL, trained here.

Same architecture as SD's KL-f8 at toy width (32 channels, two downsamplings: 32×32 frames → 8×8×4
latents, 12× fewer numbers, which keeps the U-Nets cheap enough to train on a CPU). Trained on single
frames with an MSE reconstruction loss and a weak KL term (the toy world
has no texture that would need LPIPS or a GAN). Afterwards the latent is rescaled so that
``scale_factor · z`` has unit standard deviation, as the diffusion schedule assumes: the encoder's
last 1×1 conv is multiplied by ``k`` on the mean channels (``+2 ln k`` on the log-variance) and the
decoder's first 1×1 conv divided by ``k`` on its input, which leaves reconstructions unchanged.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax

from hummingbird_jax import registry
from hummingbird_jax.models.vae import AutoencoderKL, VAEConfig, decode_video_latents, encode_video_latents, init_vae_params
from hummingbird_jax.toy_world.fitting import fit
from hummingbird_jax.toy_world.teacher import TOY_TEACHER


TOY_VAE = registry.UNETS[TOY_TEACHER].vae  # "tiny-f4": 32×32 frames → 8×8 latents


@dataclasses.dataclass(frozen=True)
class VAETrainConfig:
    steps: int = 600
    batch_size: int = 32
    lr: float = 1e-3
    kl_weight: float = 1e-6
    seed: int = 1


def toy_vae_config() -> VAEConfig:
    """The training engine's ``tiny-f4`` VAE (so ``models.vae='tiny-f4'`` loads these weights)."""
    return registry.vae(TOY_VAE)


def _loss(params, cfg, images, rng, kl_weight):
    model = AutoencoderKL(cfg)
    mean, logvar = model.apply({"params": params}, images, method=AutoencoderKL.encode)
    z = AutoencoderKL.sample(mean, logvar, rng)
    recon = model.apply({"params": params}, z, method=AutoencoderKL.decode)
    mse = jnp.mean(jnp.square(recon - images))
    kl = 0.5 * jnp.mean(jnp.sum(jnp.square(mean) + jnp.exp(logvar) - 1.0 - logvar, axis=(1, 2, 3)))
    return mse + kl_weight * kl, mse


def train_vae(frames: np.ndarray, cfg: VAETrainConfig = VAETrainConfig(), progress: bool = True):
    """``frames``: ``(N, H, W, 3)`` in [-1, 1]. Returns ``(params, history of reconstruction MSE)``."""
    vcfg = toy_vae_config()
    params = init_vae_params(vcfg, jax.random.key(cfg.seed))
    order = np.random.default_rng(cfg.seed)
    optimizer = optax.adam(optax.cosine_decay_schedule(cfg.lr, cfg.steps, alpha=0.05))
    params, history = fit(lambda p, images, key: _loss(p, vcfg, images, key, cfg.kl_weight), params, optimizer,
                          lambda _: frames[order.choice(len(frames), cfg.batch_size, replace=False)], cfg.steps,
                          seed=cfg.seed, desc="vae", progress=progress, has_aux=True)
    return normalise_latent_scale(params, vcfg, frames[: min(len(frames), 256)]), history


def normalise_latent_scale(params, vcfg: VAEConfig, frames: np.ndarray):
    """Rescales the latent so ``scale_factor · mean`` has unit std over ``frames`` (reconstructions unchanged)."""
    encode = jax.jit(lambda p, x: AutoencoderKL(vcfg).apply({"params": p}, x, method=AutoencoderKL.encode)[0])
    mean = encode(params, jnp.asarray(frames))
    k = 1.0 / (vcfg.scale_factor * float(jnp.std(mean)))
    e = vcfg.embed_dim
    params = jax.tree_util.tree_map(lambda a: a, params)  # a copy we may edit
    quant = dict(params["quant_conv"])
    quant["kernel"] = quant["kernel"].at[..., :e].multiply(k)
    quant["bias"] = quant["bias"].at[:e].multiply(k).at[e:].add(2.0 * np.log(k))
    post = dict(params["post_quant_conv"])
    post["kernel"] = post["kernel"] / k
    return {**params, "quant_conv": quant, "post_quant_conv": post}


@jax.jit
def reconstruct(params, videos) -> jnp.ndarray:
    """Videos ``(B, T, H, W, 3)`` through the posterior mean and back (what the U-Net's latents can hold)."""
    vcfg = toy_vae_config()
    z = encode_video_latents(params, jnp.asarray(videos), vcfg)
    return decode_video_latents(params, z, vcfg, remat=False, chunk_size=8)


def reconstructions(params, videos, batch_size: int = 16) -> np.ndarray:
    """:func:`reconstruct` over ``videos`` in batches, as a NumPy array."""
    return np.concatenate([np.asarray(reconstruct(params, videos[i:i + batch_size]))
                           for i in range(0, len(videos), batch_size)])


def latents_of(params, videos, batch_size: int = 32) -> np.ndarray:
    """Scaled latents ``(N, T, h, w, 4)`` of videos in [-1, 1] (posterior means)."""
    vcfg = toy_vae_config()
    enc = jax.jit(lambda p, v: encode_video_latents(p, v, vcfg, chunk_size=16))
    return np.concatenate([np.asarray(enc(params, jnp.asarray(videos[i:i + batch_size])))
                           for i in range(0, len(videos), batch_size)])
