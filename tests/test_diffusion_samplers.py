"""LCM, VC2 DDIM and the distillation solver against the official fixtures and exact invariants."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import REFERENCE, assert_close_to_range
from safetensors.numpy import load_file

from hummingbird_jax import diffusion
from hummingbird_jax.diffusion.sampling import SamplerSpec


@pytest.fixture(scope="module")
def ref():
    return load_file(str(REFERENCE / "diffusion.safetensors"))


def oracle_model(x0):
    """A perfect eps-predictor for a known clean sample: eps = (x_t − √ᾱ_t·x0)/√(1−ᾱ_t)."""
    ac = jnp.asarray(diffusion.alphas_cumprod())

    def model_fn(x, t):
        a = ac[t].reshape((-1,) + (1,) * (x.ndim - 1))
        return (x - jnp.sqrt(a) * x0) / jnp.sqrt(1 - a)

    return model_fn


# --------------------------------------------------------------------------------------- LCM


@pytest.mark.parametrize("num_steps,origin", [(1, 50), (2, 50), (4, 50), (6, 50), (8, 50), (4, 200)])
def test_lcm_timesteps_match_reference_exactly(ref, num_steps, origin):
    ours = diffusion.lcm_timesteps(num_steps, origin_steps=origin)
    want = ref[f"lcm_timesteps_{num_steps}_of_{origin}"]
    assert ours.dtype.kind == "i" and ours.tolist() == want.tolist()


def test_lcm_timesteps_reject_impossible_step_counts():
    with pytest.raises(ValueError, match="num_steps"):
        diffusion.lcm_timesteps(51)
    with pytest.raises(ValueError, match="num_steps"):
        diffusion.lcm_timesteps(0)


def test_each_lcm_step_matches_reference(ref):
    ts = diffusion.lcm_timesteps(4)
    for i, t in enumerate(ts):
        prev_t = ts[i + 1] if i + 1 < len(ts) else t  # the official last step re-noises to its own t
        prev, denoised = diffusion.lcm_step(
            ref[f"lcm_step{i}_sample"], ref[f"lcm_step{i}_model_output"], t, prev_t, ref[f"lcm_step{i}_noise"]
        )
        assert_close_to_range(denoised, ref[f"lcm_step{i}_denoised"])
        assert_close_to_range(prev, ref[f"lcm_step{i}_prev_sample"])


def replaying_model(ref, ts, traces):
    """model_fn returning the fixture's model output recorded for each timestep (checks x and t too)."""
    outputs = jnp.stack([ref[f"lcm_step{i}_model_output"] for i in range(len(ts))])
    samples = jnp.stack([ref[f"lcm_step{i}_sample"] for i in range(len(ts))])

    def model_fn(x, t):
        traces.append(t.shape)
        i = jnp.argmax(jnp.asarray(ts) == t[0])
        # the sampler must hand the model the same x the reference scheduler produced
        err = jnp.abs(x - samples[i]).max() / jnp.abs(samples[i]).max()
        return outputs[i] + jnp.where(err < 1e-4, 0.0, jnp.nan)

    return model_fn


def test_lcm_sample_reproduces_the_reference_four_step_loop(ref):
    ts = diffusion.lcm_timesteps(4)
    traces = []
    noise = np.stack([ref[f"lcm_step{i}_noise"] for i in range(4)])
    out = diffusion.lcm_sample(replaying_model(ref, ts, traces), ref["lcm_step0_sample"], ts, noise)
    assert traces == [(1,)]  # the body is traced once for the whole loop, t is (batch,)
    assert_close_to_range(out, ref["lcm_step3_denoised"])
    # the last noise row is never used: steps − 1 rows give the same result
    out3 = diffusion.lcm_sample(replaying_model(ref, ts, []), ref["lcm_step0_sample"], ts, noise[:3])
    np.testing.assert_array_equal(out3, out)


def test_lcm_sample_with_a_perfect_model_recovers_x0():
    x0 = jax.random.normal(jax.random.PRNGKey(1), (2, 3, 4, 6, 4))
    x_T = jax.random.normal(jax.random.PRNGKey(2), x0.shape)
    for steps in (1, 4):
        out = diffusion.lcm_sample(oracle_model(x0), x_T, diffusion.lcm_timesteps(steps), jax.random.PRNGKey(3))
        np.testing.assert_allclose(out, x0, atol=2e-5)


def test_lcm_sample_noise_from_a_key_is_reproducible_and_jits():
    x0 = jnp.ones((1, 2, 2, 2, 4))

    def model_fn(x, t):  # a poor model, so the re-noising shows in the result
        return 0.5 * x

    ts = diffusion.lcm_timesteps(4)
    sample = jax.jit(lambda lat, key: diffusion.lcm_sample(model_fn, lat, ts, key))
    a, b = sample(x0, jax.random.PRNGKey(0)), sample(x0, jax.random.PRNGKey(0))
    c = sample(x0, jax.random.PRNGKey(1))
    np.testing.assert_array_equal(a, b)
    assert np.abs(np.asarray(a) - np.asarray(c)).max() > 1e-3
    typed = diffusion.lcm_sample(model_fn, x0, ts, jax.random.key(0))
    assert typed.shape == x0.shape and np.all(np.isfinite(typed))


def test_lcm_sample_rejects_noise_of_the_wrong_shape():
    x = jnp.zeros((1, 2, 2, 2, 4))
    with pytest.raises(ValueError, match=r"noise has shape \(4, 1, 2, 2, 2, 3\)"):
        diffusion.lcm_sample(lambda x, t: x, x, diffusion.lcm_timesteps(4), jnp.zeros((4, 1, 2, 2, 2, 3)))
    with pytest.raises(ValueError, match="noise has shape"):
        diffusion.lcm_sample(lambda x, t: x, x, diffusion.lcm_timesteps(4), jnp.zeros((2,) + x.shape))


# ------------------------------------------------------------------------------- DDIM solver


def test_ddim_solver_grid_matches_reference(ref):
    sched = diffusion.ddim_solver_schedule()
    assert sched.timesteps.tolist() == ref["ddim_timesteps"].tolist()
    assert sched.skip == 20
    assert sched.prev_timesteps.tolist() == [max(t - 20, 0) for t in ref["ddim_timesteps"].tolist()]
    ac = diffusion.alphas_cumprod()
    np.testing.assert_array_equal(sched.alphas, ac[sched.timesteps])
    np.testing.assert_array_equal(sched.alphas_prev, ac[sched.prev_timesteps])


def test_ddim_solver_step_matches_reference(ref):
    out = diffusion.ddim_solver_step(ref["ddim_pred_x0"], ref["ddim_pred_noise"], ref["ddim_index"])
    np.testing.assert_allclose(out, ref["ddim_x_prev"], rtol=0, atol=1e-5)


def test_ddim_solver_step_with_true_x0_and_eps_lands_on_the_forward_process():
    key1, key2 = jax.random.split(jax.random.PRNGKey(0))
    x0 = jax.random.normal(key1, (3, 2, 4, 4, 4))
    eps = jax.random.normal(key2, x0.shape)
    index = jnp.array([0, 17, 49])
    sched = diffusion.ddim_solver_schedule()
    want = diffusion.add_noise(x0, eps, sched.prev_timesteps[np.asarray(index)])
    np.testing.assert_allclose(diffusion.ddim_solver_step(x0, eps, index), want, atol=1e-6)
    # a scalar index applies to the whole batch
    np.testing.assert_allclose(diffusion.ddim_solver_step(x0, eps, 17)[1], want[1], atol=1e-6)


# ----------------------------------------------------------------------------- VC2 teacher DDIM


def test_vc2_ddim_grid_is_one_to_981_in_steps_of_20():
    assert diffusion.vc2_ddim_timesteps().tolist() == list(range(1, 982, 20))
    sched = diffusion.vc2_ddim_schedule(eta=0.0)
    assert np.all(sched.sigmas == 0) and sched.scales_prev[0] == 1.0
    assert sched.alphas_prev[0] == diffusion.alphas_cumprod()[0]


def reference_vc2_ddim(eps_fn, x_T, noise, steps, eta, scale, use_scale):
    """The official VC2 ``p_sample_ddim`` loop, step by step in float64 NumPy."""
    ac = diffusion.alphas_cumprod().astype(np.float64)
    sarr = diffusion.scale_arr().astype(np.float64)
    ts = np.arange(0, 1000, 1000 // steps) + 1
    a_all, a_prev_all = ac[ts], np.concatenate([[ac[0]], ac[ts[:-1]]])
    sig_all = eta * np.sqrt((1 - a_prev_all) / (1 - a_all) * (1 - a_all / a_prev_all))
    s_all, s_prev_all = sarr[ts], np.concatenate([[sarr[0]], sarr[ts[:-1]]])
    x = np.asarray(x_T, np.float64)
    for i, step in enumerate(ts[::-1]):
        index = len(ts) - i - 1
        e_c, e_u = eps_fn(x, step, True), eps_fn(x, step, False)
        e_t = e_u + scale * (e_c - e_u)
        a_t, a_prev, sigma = a_all[index], a_prev_all[index], sig_all[index]
        pred_x0 = (x - np.sqrt(1 - a_t) * e_t) / np.sqrt(a_t)
        dir_xt = np.sqrt(1 - a_prev - sigma**2) * e_t
        if use_scale:
            pred_x0 = pred_x0 / s_all[index]
            x = np.sqrt(a_prev) * s_prev_all[index] * pred_x0 + dir_xt + sigma * noise[i]
        else:
            x = np.sqrt(a_prev) * pred_x0 + dir_xt + sigma * noise[i]
    return x


@pytest.mark.parametrize("use_scale", [True, False])
def test_ddim_cfg_sample_matches_the_official_loop_with_one_batched_model_call(use_scale):
    steps, shape = 10, (2, 3, 2, 2, 4)
    rng = np.random.default_rng(0)
    x_T = rng.standard_normal(shape)
    noise = rng.standard_normal((steps,) + shape)
    cond, uncond = np.array([0.3, -0.2]), np.array([0.05, 0.05])  # one "context" scalar per row

    def eps_np(x, t, conditional):
        c = cond if conditional else uncond
        return np.tanh(x * c[:, None, None, None, None] + t / 1000.0)

    batches = []

    def model_fn(x, t):  # rows [0, b) conditional, [b, 2b) unconditional
        batches.append(x.shape[0])
        ctx = jnp.asarray(np.concatenate([cond, uncond]), jnp.float32)
        return jnp.tanh(x * ctx[:, None, None, None, None] + t[:, None, None, None, None] / 1000.0)

    out = diffusion.ddim_sample(
        model_fn, x_T, noise, num_steps=steps, eta=1.0, guidance_scale=12.0, use_scale=use_scale
    )
    assert batches == [4]
    want = reference_vc2_ddim(eps_np, x_T, noise, steps, 1.0, 12.0, use_scale)
    assert_close_to_range(out, want)


def test_deterministic_ddim_with_a_perfect_model_follows_the_forward_process():
    x0 = jax.random.normal(jax.random.PRNGKey(4), (1, 2, 4, 4, 4))
    eps = jax.random.normal(jax.random.PRNGKey(5), x0.shape)
    x_T = diffusion.add_noise(x0, eps, 981)
    out = diffusion.ddim_sample(
        oracle_model(x0), x_T, jax.random.PRNGKey(0), eta=0.0, guidance_scale=None, use_scale=False
    )
    np.testing.assert_allclose(out, diffusion.add_noise(x0, eps, 0), atol=2e-5)


def test_ddim_without_guidance_calls_the_model_on_the_plain_batch():
    seen = []

    def model_fn(x, t):
        seen.append((x.shape[0], t.shape))
        return jnp.zeros_like(x)

    x = jnp.ones((3, 2, 2, 2, 4))
    out = diffusion.ddim_sample(model_fn, x, jax.random.PRNGKey(0), num_steps=5, guidance_scale=None)
    assert seen == [(3, (3,))] and out.shape == x.shape and np.all(np.isfinite(out))


@pytest.mark.parametrize("steps, suggested", [(3, 4), (36, 35), (999, 500)])
def test_a_ddim_step_count_whose_grid_leaves_the_schedule_is_refused_with_the_nearest_that_fits(steps, suggested):
    with pytest.raises(ValueError, match=f"e.g. {suggested}"):
        SamplerSpec("ddim_cfg", steps)
    assert diffusion.vc2_ddim_timesteps(suggested)[-1] < 1000
