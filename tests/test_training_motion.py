"""A temporal U-Net learns motion from text through the engine's own loss and sampler.

Squares move left or right across a 6×6 latent grid over three frames, at a random height; the caption
says which way. A VideoCrafter2-structured U-Net (ResBlocks with temporal convolutions, spatial and
temporal transformers, at 16 channels) is trained with :func:`~hummingbird_jax.training.losses.denoising_loss`
on the captions' contexts from the toy world's frozen text tower, sampled with
:func:`~hummingbird_jax.diffusion.sampling.make_sampler` from pure noise, and the sampled square's
centroid must travel the captioned way. Each frame alone cannot tell where its square belongs (every
frame holds one square somewhere on the path), so only the temporal layers can make a clip move: with
them off the same run moves the captioned way about as often as chance (the second test).

Why that text tower: a plain random ``tiny-w32`` tower gives "moving left" and "moving right" contexts
that differ by a tenth of their size, and the U-Net then learns coherent motion in a random direction
long before it reads the caption (at step 300 of 600: every clip moves, 0.38 the captioned way; 0.91
at step 600). The toy world's tower keeps the words in its output; the caption is read by step 200.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from hummingbird_jax import registry
from hummingbird_jax.diffusion.sampling import SamplerSpec, make_sampler
from hummingbird_jax.models.unet3d import init_unet
from hummingbird_jax.toy_world.text_encoder import encode_captions, init_text_encoder
from hummingbird_jax.training.losses import denoising_loss

FRAMES, GRID, CHANNELS = 3, 6, 4
PATHS = {"a square moving left": (4, 2, 0), "a square moving right": (0, 2, 4)}  # the square's column per frame
CAPTIONS = tuple(PATHS)
UNET = "tiny-teacher"  # VC2's block structure: two ResBlocks and a middle block (the pruned student learns slower)
WIDTH = {"model_channels": 16, "num_head_channels": 8, "norm_groups": 4}  # half the preset's width, 4 channels a group
STEPS, BATCH, PEAK_LR = 300, 16, 3e-3
# This test's time goes into running 300 steps, not compiling them: its programs are optimised as XLA does
# by default, not with the suite's cheap code generation (tests/conftest.py), which would double each step.
OPTIMISED = {"xla_backend_optimization_level": 2}


def _clip(caption: str, row: int) -> np.ndarray:
    latents = np.full((FRAMES, GRID, GRID, CHANNELS), -0.5, np.float32)
    for frame, column in enumerate(PATHS[caption]):
        latents[frame, row:row + 2, column:column + 2] = 1.5
    return latents


def _captioned_moves(temporal: bool) -> float:
    """Fraction of 32 sampled clips whose square travels ≥ 2 cells the captioned way."""
    cfg = registry.unet(UNET, temporal_conv=temporal, temporal_attention=temporal, **WIDTH)
    text = init_text_encoder()
    contexts, uncond = encode_captions(text, CAPTIONS), jnp.asarray(encode_captions(text, [""])[0])
    params = init_unet(cfg, jax.random.key(0), frames=FRAMES, height=GRID, width=GRID)
    optimizer = optax.adam(optax.warmup_cosine_decay_schedule(0.0, PEAK_LR, 20, STEPS, PEAK_LR / 10))

    @functools.partial(jax.jit, compiler_options=OPTIMISED)
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
    sample = jax.jit(make_sampler(cfg, SamplerSpec("ddim", 20)), compiler_options=OPTIMISED)
    noise_key = jax.random.key(7)
    latents = sample(params, jnp.asarray(contexts[which]), uncond, jax.random.normal(noise_key, (32, FRAMES, GRID, GRID,
                     CHANNELS)), jax.random.fold_in(noise_key, 1))
    brightness = np.maximum(np.asarray(latents).mean(-1) - 0.5, 0.0)  # the square, not the background
    column = (brightness * np.arange(GRID)).sum((2, 3)) / (brightness.sum((2, 3)) + 1e-6)  # (clip, frame)
    travel = column[:, -1] - column[:, 0]
    direction = np.where(which == CAPTIONS.index("a square moving right"), 1.0, -1.0)
    return float(np.mean(travel * direction >= 2.0))


def test_a_temporal_unet_learns_the_captioned_motion():
    assert _captioned_moves(temporal=True) >= 0.8


def test_without_temporal_layers_the_clips_do_not_follow_the_caption():
    assert _captioned_moves(temporal=False) <= 0.5
