"""Frame-by-frame video encode/decode: chunking, latent scale, checkpointed gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hummingbird_jax.models import (
    AutoencoderKL,
    VAEConfig,
    decode_video_latents,
    encode_video_latents,
)
from hummingbird_jax.models.vae import init_vae_params

# XLA's RngBitGenerator compiles several times faster on CPU than threefry for the many init draws.
FAST_KEY = jax.random.key(0, impl="rbg")
TINY = VAEConfig(ch=32, ch_mult=(1, 2), num_res_blocks=1, scale_factor=0.5)


@pytest.fixture(scope="module")
def params():
    return init_vae_params(TINY, FAST_KEY)


@pytest.fixture(scope="module")
def latents():
    return jax.random.normal(jax.random.key(1), (2, 3, 4, 6, 4))  # b=2, t=3


def _decode_each_frame(params, latents):
    model = AutoencoderKL(TINY)
    frames = [
        model.apply({"params": params}, latents[b, t][None] / TINY.scale_factor, method=AutoencoderKL.decode)[0]
        for b in range(latents.shape[0]) for t in range(latents.shape[1])
    ]
    return np.stack(frames).reshape(*latents.shape[:2], *frames[0].shape)


@pytest.mark.parametrize("chunk_size", [1, 4, 6])  # one frame, uneven chunks (4 + 2), all frames
def test_chunked_decode_equals_per_frame_decode(params, latents, chunk_size):
    ref = _decode_each_frame(params, latents)
    video = decode_video_latents(params, latents, TINY, chunk_size=chunk_size)
    assert video.shape == (2, 3, 8, 12, 3) and video.dtype == jnp.float32
    np.testing.assert_allclose(video, ref, rtol=0, atol=1e-5 * np.abs(ref).max())


def test_encode_scales_mean_and_samples_with_rng(params):
    video = jax.random.uniform(jax.random.key(2), (1, 3, 8, 12, 3), minval=-1, maxval=1)
    model = AutoencoderKL(TINY)
    mean, logvar = model.apply({"params": params}, video[0], method=AutoencoderKL.encode)
    latents = encode_video_latents(params, video, TINY, chunk_size=2)
    assert latents.shape == (1, 3, 4, 6, 4)
    np.testing.assert_allclose(latents[0], TINY.scale_factor * mean, atol=1e-5 * np.abs(mean).max())
    sampled = encode_video_latents(params, video, TINY, rng=jax.random.key(3))
    eps = (sampled[0] / TINY.scale_factor - mean) / jnp.exp(0.5 * logvar)
    assert 0.5 < float(jnp.std(eps)) < 1.5 and not np.allclose(sampled, latents)


def test_gradient_through_checkpointed_decode_equals_plain_gradient(params, latents):
    def loss(lat, remat):
        return jnp.mean(decode_video_latents(params, lat, TINY, chunk_size=2, remat=remat) ** 2)

    g_remat = jax.jit(jax.grad(loss), static_argnums=1)(latents, True)
    g_plain = jax.jit(jax.grad(loss), static_argnums=1)(latents, False)
    assert bool(jnp.all(jnp.isfinite(g_remat)))
    assert bool(jnp.all(jnp.abs(g_remat).sum(axis=(2, 3, 4)) > 0))  # every frame receives gradient
    np.testing.assert_allclose(g_remat, g_plain, rtol=1e-5, atol=1e-6 * float(jnp.abs(g_plain).max()))


def test_checkpointed_decode_keeps_one_chunk_of_activations(params):
    # The reason the helper exists: gradient memory must not grow with every decoded frame kept.
    latents = jax.ShapeDtypeStruct((1, 6, 8, 8, 4), jnp.float32)

    def temp_bytes(remat):
        grad = jax.grad(lambda lat: jnp.sum(decode_video_latents(params, lat, TINY, chunk_size=1, remat=remat)))
        return jax.jit(grad).lower(latents).compile().memory_analysis().temp_size_in_bytes

    assert temp_bytes(True) < 0.5 * temp_bytes(False)


def test_video_shape_is_checked(params):
    with pytest.raises(ValueError, match=r"latents must be \(batch, frames, height, width, 4\)"):
        decode_video_latents(params, jnp.zeros((3, 4, 6, 4)), TINY)
    with pytest.raises(ValueError, match="chunk_size"):
        decode_video_latents(params, jnp.zeros((1, 2, 4, 6, 4)), TINY, chunk_size=0)
