"""HPSv2.1 reward: HPSv2's preprocessing, cosine score, and gradients that reach the frames."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hummingbird_jax.models import CLIP, CLIPConfig, CLIPTextConfig, CLIPVisionConfig
from hummingbird_jax.models.clip import normalize_features
from hummingbird_jax.rewards import HPSv2Reward, RewardModel, clip_preprocess, letterbox
from hummingbird_jax.pixel_stats import CLIP_MEAN, CLIP_STD

TINY = CLIPConfig(
    embed_dim=16,
    vision=CLIPVisionConfig(width=32, layers=2, heads=2, patch_size=8, image_size=32),
    text=CLIPTextConfig(width=32, heads=2, layers=2),
)


@pytest.fixture(scope="module")
def reward():
    model = HPSv2Reward(TINY)
    return model, model.init_params(jax.random.key(0))


def test_letterbox_fits_the_longest_side_and_centres_black_bars():
    frames = jnp.ones((2, 20, 32, 3))  # like 320x512 at 1/16 scale
    out = letterbox(frames, 32)
    assert out.shape == (2, 32, 32, 3)
    # round(20 * 32 / 32) = 20 rows of picture, 6 rows of padding above and below.
    np.testing.assert_allclose(out[:, 6:26], 1.0, atol=1e-6)
    assert not out[:, :6].any() and not out[:, 26:].any()
    odd = letterbox(jnp.ones((1, 32, 21, 3)), 32)  # 11 columns of padding: 5 left, 6 right
    assert not odd[:, :, :5].any() and not odd[:, :, 26:].any() and (odd[:, :, 5:26] > 0.99).all()


def test_full_size_frames_become_140_rows_of_picture_in_224():
    out = jax.eval_shape(lambda f: letterbox(f, 224), jax.ShapeDtypeStruct((1, 320, 512, 3), jnp.float32))
    assert out.shape == (1, 224, 224, 3)
    x = letterbox(jnp.ones((1, 320, 512, 3)), 224)
    rows = np.flatnonzero(np.asarray(x[0, :, 100, 0]) > 0.5)
    assert rows.min() == 42 and rows.max() == 181


def test_preprocess_applies_openai_clip_normalisation():
    x = clip_preprocess(jnp.full((1, 32, 32, 3), 0.5), 32)
    expected = (0.5 - np.asarray(CLIP_MEAN)) / np.asarray(CLIP_STD)
    np.testing.assert_allclose(x[0, 7, 9], expected, rtol=1e-5)


def test_score_is_the_mean_frame_cosine_of_normalised_embeddings(reward):
    model, params = reward
    frames = jax.random.uniform(jax.random.key(1), (2, 3, 20, 32, 3))
    tokens = jnp.asarray(model.tokenize(["a cat on a sofa", "a storm at sea"]))
    score = jax.jit(model.score)(params, frames, tokens)
    assert isinstance(model, RewardModel) and score.shape == (2,)
    images = clip_preprocess(frames.reshape(6, 20, 32, 3), 32)
    image, text = jax.jit(CLIP(TINY).apply)({"params": params}, images, tokens)
    image = normalize_features(image).reshape(2, 3, -1)
    expected = np.mean(np.einsum("bke,be->bk", image, normalize_features(text)), axis=1)
    np.testing.assert_allclose(score, expected, atol=1e-6)
    assert np.all(np.abs(score) <= 1.0)


def test_score_gradient_reaches_every_frame_and_is_finite(reward):
    model, params = reward
    frames = jax.random.uniform(jax.random.key(2), (2, 2, 20, 32, 3))
    tokens = jnp.asarray(model.tokenize(["a cat", "a dog"]))
    grad = jax.jit(jax.grad(lambda f: model.score(params, f, tokens).sum()))(frames)
    assert grad.shape == frames.shape and bool(jnp.isfinite(grad).all())
    per_frame = jnp.abs(grad).sum(axis=(2, 3, 4))
    assert bool((per_frame > 0).all())
    checkpointed = HPSv2Reward(TINY, remat=True)
    grad_remat = jax.jit(jax.grad(lambda f: checkpointed.score(params, f, tokens).sum()))(frames)
    np.testing.assert_allclose(grad_remat, grad, rtol=1e-4, atol=1e-7)


def test_frames_with_the_wrong_layout_are_rejected(reward):
    model, params = reward
    tokens = jnp.asarray(model.tokenize(["a cat"]))
    with pytest.raises(ValueError, match=r"\(batch, frames, height, width, 3\)"):
        model.score(params, jnp.zeros((1, 3, 20, 32)), tokens)
    with pytest.raises(ValueError, match="batch 2"):
        model.score(params, jnp.zeros((2, 1, 20, 32, 3)), tokens)


def test_full_size_reward_parameters_have_vit_h_14_shapes():
    shapes = HPSv2Reward().params_shapes()  # eval_shape only
    assert shapes["visual"]["conv1"]["kernel"].shape == (14, 14, 3, 1280)
    assert shapes["text"]["token_embedding"]["embedding"].shape == (49408, 1024)
