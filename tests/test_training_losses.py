"""Tiny stage-1 and stage-2 runs learn what they should, and frozen networks never get a gradient."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hummingbird_jax.training.config import apply_overrides, load_experiment
from hummingbird_jax.training.inputs import SyntheticLatents, model_fields
from hummingbird_jax.diffusion.sampling import SamplerSpec, make_sampler
from hummingbird_jax.training.losses import conditioning, loss_function, pseudo_huber, reward_terms
from hummingbird_jax.training.trainable import TrainableSpec, student_params
from hummingbird_jax.training.trainer import train


def _dataset_batch(c, rewards=()):
    source = SyntheticLatents(c.data.frames, tuple(c.data.latent_size), c.seed)
    examples = [source(i) for i in range(c.data.synthetic_examples)]
    batch = model_fields({k: np.stack([e[k] for e in examples]) for k in examples[0]}, rewards)
    return {k: jnp.asarray(v) for k, v in batch.items()}


def _train_and_evaluate(experiment, workdir, overrides):
    """Metrics of the loss averaged over 8 fixed draws on the whole (fixed) dataset, before and after."""
    c = apply_overrides(load_experiment(experiment, "tiny"), overrides)
    before = train(c, str(workdir), max_steps=0)["state"]
    out = train(c, str(workdir))
    loss_fn = loss_function(c, out["models"], TrainableSpec.from_config(c.trainable))
    batch, keys = _dataset_batch(c, out["models"].rewards), jax.random.split(jax.random.key(123), 8)

    @jax.jit
    def evaluate(trainable, base, frozen):
        frozen = dict(frozen, student_base=base)
        return jax.lax.map(lambda k: loss_fn(trainable, frozen, batch, k)[1]["metrics"], keys)

    result = {}
    for name, state in (("before", before), ("after", out["state"])):
        metrics = evaluate(state["params"], state["base"], out["frozen"])
        result[name] = {k: float(jnp.mean(v)) for k, v in metrics.items()}
    assert int(out["state"]["step"]) == c.total_steps and int(out["state"]["nonfinite"]) == 0
    return result, out


def test_tiny_stage1_run_reduces_the_distillation_loss(tmp_path):
    result, _ = _train_and_evaluate("stage1_distill", tmp_path, ["total_steps=20", "optim.lr=3e-3",
                                                                 "sample_every=20", "sample_steps=2"])
    assert result["after"]["loss/distill"] < 0.95 * result["before"]["loss/distill"], result
    videos = sorted((tmp_path / "samples" / "00000020").glob("*.mp4"))
    assert len(videos) == 2 and all(v.stat().st_size > 0 for v in videos)


@pytest.mark.slow
def test_tiny_stage2_run_reduces_the_consistency_loss_and_raises_both_rewards(tmp_path):
    """The release's mix at toy size: an image reward on random frames, a video reward on strided ones."""
    result, out = _train_and_evaluate("stage2_turbo", tmp_path, ["total_steps=20", "optim.lr=3e-3"])
    assert [r.name for r in out["models"].rewards] == ["hps", "video"]
    assert result["after"]["loss/consistency"] < result["before"]["loss/consistency"], result
    assert result["after"]["reward/hps"] > result["before"]["reward/hps"], result
    assert result["after"]["reward/video"] > result["before"]["reward/video"], result
    logged = out["history"][-1]
    for key in ("loss", "loss/consistency", "loss/hps", "reward/hps", "loss/video", "reward/video", "grad_norm",
                "lr", "step_time_s", "clips_per_s", "tflops_per_s"):
        assert np.isfinite(logged[key]), key
    assert (tmp_path / "metrics.jsonl").read_text().count("\n") == 20
    assert any((tmp_path / "tensorboard").iterdir())


def test_teacher_target_vae_text_and_reward_params_get_no_gradient(tmp_path):
    c = apply_overrides(load_experiment("stage2_turbo", "tiny"),
                        ["trainable.mode=full", "ema.decay=0.9", "loss.target=ema"])
    out = train(c, str(tmp_path), max_steps=0)
    loss_fn = loss_function(c, out["models"], TrainableSpec.from_config(c.trainable))
    state = out["state"]
    frozen = dict(out["frozen"], student_base=state["base"], target=state["ema"])
    batch = {k: v[:2] for k, v in _dataset_batch(c, out["models"].rewards).items()}
    grads = jax.jit(jax.grad(lambda p, f: loss_fn(p, f, batch, jax.random.key(5))[0], argnums=(0, 1)))(
        state["params"], frozen)
    trainable_grads, frozen_grads = grads
    for name in ("teacher", "vae", "text", "rewards", "target", "uncond"):
        leaves = jax.tree_util.tree_leaves(frozen_grads[name])
        assert leaves and all(not np.any(np.asarray(g)) for g in leaves), f"{name} received a gradient"
    assert float(jnp.sqrt(sum(jnp.sum(g**2) for g in jax.tree_util.tree_leaves(trainable_grads)))) > 0


def test_pseudo_huber_is_quadratic_near_zero_and_linear_far_away():
    c = 0.001
    small, large = jnp.full((4,), 1e-5), jnp.full((4,), 10.0)
    np.testing.assert_allclose(pseudo_huber(small, 0 * small, c), (1e-5) ** 2 / (2 * c), rtol=1e-2)  # float32 cancellation
    np.testing.assert_allclose(pseudo_huber(large, 0 * large, c), 10.0 - c, rtol=1e-6)


def test_unknown_override_is_rejected_with_the_known_keys():
    c = load_experiment("stage2_turbo", "tiny")
    with pytest.raises(KeyError, match="lr"):
        apply_overrides(c, ["optim.learning_rate=1"])


def test_reward_models_are_named_by_kind_or_import_path():
    from hummingbird_jax.rewards import HPSv2Reward
    from hummingbird_jax.toy_world.reward import ToyVideoTextReward
    from hummingbird_jax.training.models import reward_model

    assert isinstance(reward_model("hpsv2", "tiny", "float32", False), HPSv2Reward)
    assert isinstance(reward_model("hummingbird_jax.toy_world.reward:ToyVideoTextReward", "", "float32", False),
                      ToyVideoTextReward)
    with pytest.raises(ValueError, match="cannot import NoSuchReward"):
        reward_model("hummingbird_jax.toy_world.reward:NoSuchReward", "", "float32", False)
    with pytest.raises(ValueError, match="is not a hummingbird_jax.rewards.RewardModel"):
        reward_model("collections:OrderedDict", "", "float32", False)
    with pytest.raises(ValueError, match="expected hpsv2"):
        reward_model("imagereward", "", "float32", False)


def test_reward_rollout_scores_the_students_lcm_sample_from_noise(tmp_path):
    """``loss.reward_rollout_steps = 2``: the rewards judge exactly what the sampling front-end draws in
    2 LCM steps from the loss's noise, and their gradient reaches the student through both steps."""
    c = apply_overrides(load_experiment("stage2_turbo", "tiny"),
                        ["loss.w_min=4.0", "loss.w_max=4.0", "loss.reward_rollout_steps=2"])
    out = train(c, str(tmp_path), max_steps=0)
    models, state = out["models"], out["state"]
    loss_fn = loss_function(c, models, TrainableSpec.from_config(c.trainable))
    frozen = dict(out["frozen"], student_base=state["base"])
    batch = {k: v[:2] for k, v in _dataset_batch(c, models.rewards).items()}
    rng = jax.random.key(7)
    metrics = jax.jit(lambda p: loss_fn(p, frozen, batch, rng)[1]["metrics"])(state["params"])

    params = student_params(state["params"], state["base"], TrainableSpec.from_config(c.trainable))
    k_enc, *_, k_reward = jax.random.split(rng, 6)  # the loss's own split
    _, context, _, fps = conditioning(frozen, batch, models, k_enc)
    k_start, k_renoise = jax.random.split(jax.random.fold_in(rng, 6))
    x_T = jax.random.normal(k_start, (2, c.data.frames, *c.data.latent_size, 4), jnp.float32)
    sample = make_sampler(models.student, SamplerSpec("lcm", 2, guidance=4.0))(
        params, context, None, x_T, k_renoise, fps=fps)
    _, expected = reward_terms(sample, frozen, batch, k_reward, models)
    for name in ("reward/hps", "reward/video"):
        np.testing.assert_allclose(metrics[name], expected[name], rtol=1e-4, atol=1e-5)

    def reward_only(p):
        return loss_fn(p, frozen, batch, rng)[1]["metrics"]["loss/video"]

    grads = jax.jit(jax.grad(reward_only))(state["params"])
    norm = float(jnp.sqrt(sum(jnp.sum(g ** 2) for g in jax.tree_util.tree_leaves(grads))))
    assert np.isfinite(norm) and norm > 0
