"""A temporal U-Net learns motion from text through the engine's own loss and sampler.

Squares move left or right across a 6×6 latent grid over three frames, at a random height; the caption
says which way. A VideoCrafter2-structured U-Net (ResBlocks with temporal convolutions, spatial and
temporal transformers) is trained with :func:`~hummingbird_jax.training.losses.denoising_loss` on the
captions' context from a frozen text tower, sampled with :func:`~hummingbird_jax.diffusion.sampling.make_sampler`
from pure noise, and the sampled square's centroid must travel the captioned way. Each frame alone
cannot tell where its square belongs (every frame holds one square somewhere on the path), so only the
temporal layers can make a clip move: with them off the same run moves the captioned way about as often
as chance (the second test).
Both are in the ``slow`` set (``python -m pytest -n 2 -q -m slow tests``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from hummingbird_jax import registry
from hummingbird_jax.diffusion.sampling import SamplerSpec, make_sampler
from hummingbird_jax.models.clip import CLIPTextEncoder
from hummingbird_jax.models.unet3d import init_unet
from hummingbird_jax.text_encoding import encode_prompts
from hummingbird_jax.training.losses import denoising_loss

FRAMES, GRID, CHANNELS = 3, 6, 4
PATHS = {"a square moving left": (4, 2, 0), "a square moving right": (0, 2, 4)}  # the square's column per frame
CAPTIONS = tuple(PATHS)
UNET = "tiny-teacher"  # VC2's block structure: two ResBlocks and a middle block (the pruned student learns slower)
STEPS, BATCH, PEAK_LR = 600, 16, 3e-3


def _clip(caption: str, row: int) -> np.ndarray:
    latents = np.full((FRAMES, GRID, GRID, CHANNELS), -0.5, np.float32)
    for frame, column in enumerate(PATHS[caption]):
        latents[frame, row:row + 2, column:column + 2] = 1.5
    return latents


def _captioned_moves(temporal: bool) -> float:
    """Fraction of 32 sampled clips whose square travels ≥ 2 cells the captioned way."""
    cfg = registry.unet(UNET, temporal_conv=temporal, temporal_attention=temporal)
    text_cfg = registry.text_tower("tiny-w32")
    text = CLIPTextEncoder(text_cfg).init(jax.random.key(1), jnp.zeros((1, text_cfg.context_length), jnp.int32))
    contexts = np.asarray(encode_prompts(text["params"], list(CAPTIONS), text_cfg))
    uncond = jnp.zeros(contexts.shape[1:])
    params = init_unet(cfg, jax.random.key(0), frames=FRAMES, height=GRID, width=GRID)
    optimizer = optax.adam(optax.warmup_cosine_decay_schedule(0.0, PEAK_LR, 20, STEPS, PEAK_LR / 10))

    @jax.jit
    def train_step(params, opt_state, batch, key):
        loss, grads = jax.value_and_grad(denoising_loss)(params, cfg, batch, key, uncond, uncond_prob=0.0)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    opt_state = optimizer.init(params)
    for step in range(STEPS):
        draw = np.random.default_rng((1, step))
        which, rows = draw.integers(0, len(CAPTIONS), BATCH), draw.integers(0, GRID - 1, BATCH)
        batch = {"latents": np.stack([_clip(CAPTIONS[c], r) for c, r in zip(which, rows)]),
                 "context": contexts[which], "fps": np.full((BATCH,), 8, np.int32)}
        params, opt_state, _ = train_step(params, opt_state, batch, jax.random.key(step))

    which = np.arange(32) % len(CAPTIONS)
    sample = jax.jit(make_sampler(cfg, SamplerSpec("ddim", 20)))
    noise_key = jax.random.key(7)
    latents = sample(params, jnp.asarray(contexts[which]), uncond, jax.random.normal(noise_key, (32, FRAMES, GRID, GRID,
                     CHANNELS)), jax.random.fold_in(noise_key, 1))
    brightness = np.maximum(np.asarray(latents).mean(-1) - 0.5, 0.0)  # the square, not the background
    column = (brightness * np.arange(GRID)).sum((2, 3)) / (brightness.sum((2, 3)) + 1e-6)  # (clip, frame)
    travel = column[:, -1] - column[:, 0]
    direction = np.where(which == CAPTIONS.index("a square moving right"), 1.0, -1.0)
    return float(np.mean(travel * direction >= 2.0))


@pytest.mark.slow  # ~3 min on a quiet 2-core CPU, 5-10 min beside another xdist worker
def test_a_temporal_unet_learns_the_captioned_motion():
    assert _captioned_moves(temporal=True) >= 0.8


@pytest.mark.slow
def test_without_temporal_layers_the_clips_do_not_follow_the_caption():
    assert _captioned_moves(temporal=False) <= 0.5
