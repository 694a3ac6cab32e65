"""The toy world's judge, VAE, text encoder and reward: each does its job on real (tiny) data."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hummingbird_jax import registry
from hummingbird_jax.models.unet3d import init_unet
from hummingbird_jax.models.vae import AutoencoderKL, init_vae_params
from hummingbird_jax.toy_world.classifier import (
    ClassifierConfig,
    accuracy,
    chance_scores,
    label_scores,
    train_classifier,
)
from hummingbird_jax.toy_world.clips import rendered_clips
from hummingbird_jax.toy_world.reward import (
    RewardTrainConfig,
    ToyVideoTextReward,
    retrieval_accuracy,
    train_reward,
)
from hummingbird_jax.toy_world.text_encoder import (
    caption_energy,
    context_separation,
    encode_captions,
    init_text_encoder,
)
from hummingbird_jax.toy_world.vae import normalise_latent_scale, toy_vae_config
from hummingbird_jax.toy_world.world import CLIP_FRAMES, CLIP_SIZE, ClipSpec, all_specs
from hummingbird_jax.training.losses import denoising_loss


def test_classifier_reads_colour_and_motion_off_unseen_clips():
    params, history = train_classifier(ClassifierConfig(renders_per_caption=1, steps=80), progress=False)
    assert history[-1] < 0.5 * history[0]
    specs = all_specs()
    videos = rendered_clips(specs, size=CLIP_SIZE, frames=CLIP_FRAMES, seed=777)  # seeds it never saw
    acc = accuracy(params, videos, specs)
    assert acc["colour"] >= 0.9 and acc["motion"] >= 0.7, acc
    still = np.repeat(videos[:, :1], CLIP_FRAMES, axis=1)  # every clip frozen: motion must read "static"
    frozen = accuracy(params, still, [ClipSpec(s.shape, s.colour, "static", s.background) for s in specs])
    assert frozen["motion"] >= 0.7, frozen


def test_semantic_accuracy_is_the_mean_of_shape_colour_and_motion_and_all_needs_all_three():
    true = {"shape": np.array([0, 1, 2, 0]), "colour": np.array([0, 1, 2, 3]), "motion": np.array([0, 1, 2, 3]),
            "background": np.array([0, 1, 0, 1])}
    pred = {**true, "shape": np.array([0, 1, 0, 0]), "motion": np.array([0, 0, 2, 0]),
            "background": np.array([1, 0, 1, 0])}  # shape wrong on clip 2, motion on clips 1 and 3
    scores = label_scores(pred, true)
    assert scores["shape"] == 0.75 and scores["colour"] == 1.0 and scores["motion"] == 0.5
    assert scores["all"] == 0.25  # only clip 0 has all three; the wrong backgrounds do not count
    assert scores["semantic"] == pytest.approx((0.75 + 1.0 + 0.5) / 3)
    per_video = np.array([3, 2, 2, 2]) / 3  # labels right per clip, of three
    assert scores["semantic_se"] == pytest.approx(per_video.std(ddof=1) / 2)
    chance = chance_scores()  # 3 shapes, 4 colours, 5 motions
    assert chance["semantic"] == pytest.approx((1 / 3 + 1 / 4 + 1 / 5) / 3) and chance["all"] == pytest.approx(1 / 60)
    assert chance["motion"] == pytest.approx(1 / 5) and chance["colour"] == pytest.approx(1 / 4)


def test_latent_rescaling_gives_unit_std_and_keeps_reconstructions():
    cfg = toy_vae_config()
    params = init_vae_params(cfg, jax.random.key(0))
    frames = jnp.asarray(rendered_clips(all_specs()[:8], size=(32, 32), frames=2, seed=0).reshape(-1, 32, 32, 3))
    model = AutoencoderKL(cfg)
    scaled = normalise_latent_scale(params, cfg, np.asarray(frames))
    mean, _ = model.apply({"params": scaled}, frames, method=AutoencoderKL.encode)
    assert abs(float(jnp.std(cfg.scale_factor * mean)) - 1.0) < 1e-3
    before, after = model.apply({"params": params}, frames), model.apply({"params": scaled}, frames)
    np.testing.assert_allclose(np.asarray(after), np.asarray(before), atol=1e-4 * float(jnp.abs(before).max()))


def test_frozen_text_encoder_gives_every_caption_its_own_context():
    params = init_text_encoder(2)
    captions = [s.caption for s in all_specs()] + [""]
    assert context_separation(params, captions) > 0.01
    ctx = encode_captions(params, captions[:2])
    assert ctx.shape == (2, 16, 32)
    # The caption-specific share the U-Net can read (a plain random 77-token tower gives about 0.1).
    assert caption_energy(params, captions[:-1]) > 0.25


def test_video_text_reward_prefers_the_true_caption_and_passes_gradients_to_frames():
    specs = [ClipSpec(s, c, m, "dark") for s in ("circle", "square") for c in ("red", "blue") for m in ("left", "up", "static")]
    captions = [s.caption for s in specs]
    videos = rendered_clips(specs * 4, size=CLIP_SIZE, frames=CLIP_FRAMES, seed=0)
    reward = ToyVideoTextReward()
    params, history = train_reward(videos, captions * 4, reward, RewardTrainConfig(steps=80, batch_size=12),
                                   progress=False)
    assert history[-1] < 0.5 * history[0]
    fresh = rendered_clips(specs, size=CLIP_SIZE, frames=CLIP_FRAMES, seed=900)
    assert retrieval_accuracy(reward, params, fresh, captions, captions) >= 0.75
    frames = jnp.asarray((fresh[:3] + 1) / 2)
    tokens = jnp.asarray(reward.tokenize(captions[:3]))
    assert reward.score(params, frames, tokens).shape == (3,)
    grad = jax.grad(lambda f: reward.score(params, f, tokens).sum())(frames)
    assert float(jnp.abs(grad).mean()) > 0
    with pytest.raises(ValueError, match=f"built for {CLIP_FRAMES} frames"):
        reward.score(params, frames[:, :-1], tokens)


def test_fit_minimises_a_loss_keeps_an_ema_and_reports_chunks():
    import optax

    from hummingbird_jax.toy_world.fitting import fit

    target = jnp.arange(4.0)
    chunks = []

    def loss(params, batch, key):
        return jnp.sum(jnp.square(params["w"] - batch)) + 0.0 * jax.random.normal(key)

    params, history = fit(loss, {"w": jnp.zeros(4)}, optax.sgd(0.1), lambda i: target, 30, seed=0, desc="t",
                          progress=False, on_chunk=lambda state, step, h: chunks.append((step, len(h))), chunk=10)
    assert len(history) == 30 and history[-1] < 1e-3 * history[0]
    assert chunks == [(10, 10), (20, 20), (30, 30)]
    averaged, _ = fit(loss, {"w": jnp.zeros(4)}, optax.sgd(0.1), lambda i: target, 30, seed=0, desc="t",
                      progress=False, ema_decay=0.9)
    # the average trails the iterates: between the start and the optimum
    assert 0 < float(averaged["w"][3]) < float(params["w"][3])


def test_min_snr_weighting_only_lowers_the_weight_of_nearly_clean_timesteps():
    cfg = registry.unet("tiny-teacher", parameterization="eps")
    params = init_unet(cfg, jax.random.key(0), frames=2, height=8, width=8)
    batch = {"latents": jax.random.normal(jax.random.key(1), (8, 2, 8, 8, 4)),
             "context": jax.random.normal(jax.random.key(2), (8, 77, 32)), "fps": jnp.full((8,), 8)}
    uncond = jnp.zeros((77, 32))

    def loss(cfg, gamma):
        return float(denoising_loss(params, cfg, batch, jax.random.key(3), uncond, min_snr_gamma=gamma))

    plain = loss(cfg, 0.0)
    # eps: weight min(SNR, γ)/SNR: 1 where SNR ≤ γ (every t of this draw for γ = 5, SNR > 5 only for t < 147),
    # below 1 where SNR > γ (nearly every t for γ = 0.05)
    np.testing.assert_allclose(loss(cfg, 5.0), plain, rtol=1e-6)
    assert loss(cfg, 0.05) < 0.9 * plain
    # v: weight min(SNR, γ)/(SNR + 1), below 1 at every t, and ~SNR at the noisiest ones
    v_cfg = cfg.replace(parameterization="v")
    assert loss(v_cfg, 5.0) < 0.9 * loss(v_cfg, 0.0)
