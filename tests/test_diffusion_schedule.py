"""Schedule, embeddings and boundary scalings against the official fixtures and their invariants."""

import jax.numpy as jnp
import numpy as np
import pytest
from conftest import REFERENCE
from safetensors.numpy import load_file

from hummingbird_jax import diffusion
from hummingbird_jax.models import embeddings

# float32 sin/cos of arguments up to 15,000 differ by ~1 ulp of exp between libraries (reference README).
SINUSOID_ATOL = 1e-3


@pytest.fixture(scope="module")
def ref():
    return load_file(str(REFERENCE / "diffusion.safetensors"))


def test_alphas_cumprod_matches_reference(ref):
    ours = diffusion.alphas_cumprod()
    assert ours.shape == (1000,) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, ref["alphas_cumprod"], rtol=0, atol=1e-5)
    assert abs(float(ours[999]) - 0.0046601) < 1e-7


def test_betas_are_linear_in_sqrt_and_consistent_with_alphas_cumprod():
    b = diffusion.betas().astype(np.float64)
    np.testing.assert_allclose(b[[0, -1]], [0.00085, 0.012], rtol=1e-6)
    np.testing.assert_allclose(np.diff(np.sqrt(b)), np.diff(np.sqrt(b))[0], rtol=1e-4)
    np.testing.assert_allclose(np.cumprod(1 - b), diffusion.alphas_cumprod(), rtol=1e-6)


def test_boundary_scalings_match_reference(ref):
    c_skip, c_out = diffusion.boundary_scalings(np.arange(1000))
    np.testing.assert_allclose(c_skip, ref["boundary_c_skip"], rtol=0, atol=1e-5)
    np.testing.assert_allclose(c_out, ref["boundary_c_out"], rtol=0, atol=1e-5)


def test_consistency_function_is_identity_at_time_zero():
    c_skip, c_out = diffusion.boundary_scalings(0)
    assert float(c_skip) == 1.0 and float(c_out) == 0.0
    # and essentially the clean prediction far from the boundary
    c_skip, c_out = diffusion.boundary_scalings(279)
    assert float(c_skip) < 1e-7 and abs(float(c_out) - 1.0) < 1e-7


def test_timestep_embedding_matches_reference(ref):
    ours = np.asarray(embeddings.timestep_embedding(ref["timestep_embedding_t"], 320))
    want = ref["timestep_embedding_320"]
    assert ours.shape == want.shape == (5, 320)
    np.testing.assert_allclose(ours, want, rtol=0, atol=SINUSOID_ATOL)
    # small arguments carry no ulp amplification: those rows match tightly
    small = ref["timestep_embedding_t"] <= 19
    np.testing.assert_allclose(ours[small], want[small], rtol=0, atol=1e-5)


def test_timestep_embedding_is_cos_first_with_max_period_frequencies():
    t = np.array([3.0, 250.0])
    emb = np.asarray(embeddings.timestep_embedding(t, 8))
    freqs = np.exp(-np.log(10000.0) * np.arange(4) / 4)
    np.testing.assert_allclose(emb, np.concatenate([np.cos(t[:, None] * freqs), np.sin(t[:, None] * freqs)], 1), atol=1e-5)
    odd = np.asarray(embeddings.timestep_embedding(t, 9))
    assert odd.shape == (2, 9) and np.all(odd[:, -1] == 0) and np.array_equal(odd[:, :8], emb)


def test_guidance_embedding_matches_reference(ref):
    ours = np.asarray(embeddings.guidance_embedding(ref["guidance_w"]))
    want = ref["guidance_embedding_256"]
    assert ours.shape == want.shape == (4, 256)
    np.testing.assert_allclose(ours, want, rtol=0, atol=SINUSOID_ATOL)


def test_guidance_embedding_is_sin_first_of_w_times_1000_over_half_minus_one():
    emb = np.asarray(embeddings.guidance_embedding(np.array([0.002]), dim=6))
    freqs = np.exp(-np.log(10000.0) * np.arange(3) / 2)  # half − 1 = 2
    np.testing.assert_allclose(emb[0], np.concatenate([np.sin(2.0 * freqs), np.cos(2.0 * freqs)]), atol=1e-6)


def test_vc2_scale_arr_ramps_from_one_to_point_seven_over_400_steps():
    s = diffusion.scale_arr()
    assert s.shape == (1000,) and s.dtype == np.float32
    assert s[0] == 1.0 and abs(s[399] - 0.7) < 1e-7 and np.all(s[400:] == np.float32(0.7))
    np.testing.assert_allclose(s[200], 1.0 - 0.3 * 200 / 399, rtol=1e-6)
    assert np.all(np.diff(s[:400]) < 0)


def _noised(seed):
    """Clean latents, noise, per-sample timesteps (both ends and the middle), noisy latents and ᾱ_t."""
    rng = np.random.default_rng(seed)
    x0 = rng.standard_normal((3, 2, 4, 4, 4)).astype(np.float32)
    eps = rng.standard_normal(x0.shape).astype(np.float32)
    t = np.array([0, 500, 999])
    return x0, eps, t, diffusion.add_noise(x0, eps, t), diffusion.alphas_cumprod()[t][:, None, None, None, None]


def test_predicted_x0_inverts_add_noise_per_sample_timesteps():
    x0, eps, t, x_t, a = _noised(0)
    np.testing.assert_allclose(x_t, np.sqrt(a) * x0 + np.sqrt(1 - a) * eps, atol=1e-6)
    np.testing.assert_allclose(diffusion.predicted_x0(x_t, eps, t), x0, atol=1e-4)
    # a scalar timestep broadcasts over the batch
    np.testing.assert_allclose(diffusion.add_noise(x0, eps, 500)[1], x_t[1], atol=1e-6)
    assert isinstance(diffusion.add_noise(jnp.asarray(x0), eps, 7), jnp.ndarray)


def test_a_v_prediction_reads_back_as_the_noise_and_the_clean_latent():
    x0, eps, t, x_t, a = _noised(1)
    v = diffusion.velocity(x0, eps, t)
    np.testing.assert_allclose(v, np.sqrt(a) * eps - np.sqrt(1 - a) * x0, atol=1e-6)
    np.testing.assert_allclose(diffusion.eps_from_velocity(x_t, v, t), eps, atol=1e-5)
    # LVDM's predict_start_from_z_and_v: √ᾱ·x_t − √(1−ᾱ)·v
    np.testing.assert_allclose(diffusion.predicted_x0(x_t, diffusion.eps_from_velocity(x_t, v, t), t),
                               np.sqrt(a) * x_t - np.sqrt(1 - a) * v, atol=1e-4)
