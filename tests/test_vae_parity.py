"""The VAE reproduces the official AutoencoderKL on the reference fixtures (fp32)."""

import jax.numpy as jnp
import numpy as np
import pytest
from conftest import REFERENCE, relative_error
from safetensors.numpy import load_file

from hummingbird_jax.convert import vae_from_torch
from hummingbird_jax.models import AutoencoderKL, VAEConfig, decode_video_latents


@pytest.fixture(scope="module")
def small():
    cfg = VAEConfig.from_lvdm_yaml(str(REFERENCE / "vae.yaml"))
    return cfg, vae_from_torch(load_file(str(REFERENCE / "vae.safetensors")), cfg)


@pytest.fixture(scope="module")
def io():
    return load_file(str(REFERENCE / "vae.io.safetensors"))


def test_yaml_config_is_the_reference_model():
    cfg = VAEConfig.from_lvdm_yaml(str(REFERENCE / "vae.yaml"))
    assert (cfg.ch, cfg.ch_mult, cfg.num_res_blocks, cfg.embed_dim, cfg.z_channels) == (32, (1, 2, 2, 2), 2, 4, 4)
    assert cfg.scale_factor == pytest.approx(0.18215)


def test_moments_match_official_encoder(small, io):
    cfg, params = small
    image = jnp.asarray(io["image"].transpose(0, 2, 3, 1))
    model = AutoencoderKL(cfg)
    ref = io["moments"].transpose(0, 2, 3, 1)
    moments = model.apply({"params": params}, image, method=AutoencoderKL.moments)
    assert moments.shape == ref.shape
    assert relative_error(moments, ref) <= 1e-4
    mean, logvar = model.apply({"params": params}, image, method=AutoencoderKL.encode)
    assert relative_error(mean, ref[..., :4]) <= 1e-4
    assert relative_error(logvar, np.clip(ref[..., 4:], -30, 20)) <= 1e-4


def test_decoded_image_matches_official_decoder(small, io):
    cfg, params = small
    z = jnp.asarray(io["z"].transpose(0, 2, 3, 1))
    ref = io["decoded"].transpose(0, 2, 3, 1)
    decoded = AutoencoderKL(cfg).apply({"params": params}, z, method=AutoencoderKL.decode)
    assert decoded.shape == ref.shape
    assert relative_error(decoded, ref) <= 1e-4


def test_video_decode_of_scaled_latents_matches_end_to_end_fixture(small):
    # e2e: 10 frames of scaled latents -> official frame-by-frame decode of z / 0.18215.
    cfg, params = small
    e2e = load_file(str(REFERENCE / "e2e.io.safetensors"))
    latents = jnp.asarray(e2e["denoised"].transpose(0, 2, 3, 4, 1))  # (b, c, t, h, w) -> (b, t, h, w, c)
    ref = e2e["video"].transpose(0, 2, 3, 4, 1)
    video = decode_video_latents(params, latents, cfg, chunk_size=3, remat=False)  # 10 = 3 + 3 + 3 + 1
    assert video.shape == ref.shape == (2, 5, 128, 192, 3)
    assert relative_error(video, ref) <= 1e-4
