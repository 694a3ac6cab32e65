"""ViCLIP-L video-text reward: parity with the official code's fixtures, conversion, full-size shapes, gradients.

Fixtures come from ``tests/fixtures/viclip/make_fixtures.py`` (official modules, random weights).
"""

import json
import math
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import conversion_error, relative_error
from safetensors.numpy import load_file

from hummingbird_jax.convert.rules import ConversionError
from hummingbird_jax.convert.viclip import load_viclip, params_to_torch, viclip_manifest
from hummingbird_jax.rewards import RewardModel, ViCLIPReward
from hummingbird_jax.rewards.viclip import (
    ViCLIPConfig,
    params_from_torch,
    preprocess,
    random_crop_offset,
    text_features,
    video_features,
)
from hummingbird_jax.text import tokenize

# Compiled once per config: eager Flax dispatch costs more than these tiny models' compute.
_video = jax.jit(video_features, static_argnums=1, static_argnames=("dtype", "attention_impl", "remat"))
_text = jax.jit(text_features, static_argnums=1)

FIXTURES = pathlib.Path(__file__).resolve().parent / "fixtures" / "viclip"
META = json.loads((FIXTURES / "viclip.json").read_text())


def _model(name):
    cfg = ViCLIPConfig(**META[name])
    weights = load_file(str(FIXTURES / f"{name}.safetensors"))
    return cfg, params_from_torch(weights, cfg), load_file(str(FIXTURES / f"{name}.io.safetensors"))


def _manifest(name):
    rows = [line.split("\t") for line in (FIXTURES / name).read_text().splitlines() if not line.startswith("#")]
    return {key: tuple(int(s) for s in shape.split(",")) if shape else () for key, shape in rows}


@pytest.fixture(scope="module")
def tiny():
    return _model("tiny")


@pytest.fixture(scope="module")
def scorer():
    return _model("score")


def test_video_features_of_eight_frames_match_official(tiny):
    cfg, params, io = tiny
    got = _video(params, cfg, io["frames"])
    assert got.shape == (2, 16)
    assert relative_error(got, io["video_features"]) <= 1e-4
    np.testing.assert_allclose(np.linalg.norm(got, axis=-1), 1.0, rtol=1e-5)


def test_single_frame_uses_the_mean_temporal_embedding_like_official(tiny):
    cfg, params, io = tiny
    got = _video(params, cfg, io["single_frame"])
    assert relative_error(got, io["single_frame_features"]) <= 1e-4


def test_tubelet_patch_embedding_over_two_frames_matches_official():
    cfg, params, io = _model("tubelet")
    assert cfg.kernel_size == 2 and cfg.input_frames == 6
    assert relative_error(_video(params, cfg, io["frames"]), io["video_features"]) <= 1e-4
    assert relative_error(_text(params, cfg, io["tokens"]), io["text_features"]) <= 1e-4


def test_tokens_at_the_32_token_context_equal_the_official_tokenizer(tiny):
    _, _, io = tiny
    np.testing.assert_array_equal(tokenize(META["prompts"], 32), io["tokens"])
    assert io["tokens"][2, -1] == 49407  # the long prompt was cut and still ends in EOT


def test_text_features_match_official_also_from_77_token_rows(tiny):
    cfg, params, io = tiny
    assert relative_error(_text(params, cfg, io["tokens"]), io["text_features"]) <= 1e-4
    # The engine tokenizes prompts at 77; the reward refits them to 32 as if tokenized there.
    long_rows = tokenize(META["prompts"], 77)
    assert relative_error(_text(params, cfg, long_rows), io["text_features"]) <= 1e-4


@pytest.mark.parametrize("case", ["wide", "tall"])
def test_score_matches_official_score_fn_with_its_crop(scorer, case):
    cfg, params, io = scorer
    frames = io[f"{case}_frames"]
    offset = jnp.asarray(META["crop_offsets"][case])
    video = _video(params, cfg, preprocess(frames, cfg.input_resolution, offset))
    score = jnp.sum(video * _text(params, cfg, io["tokens"]), axis=-1)
    assert relative_error(score, io[f"{case}_score"]) <= 1e-4


def test_reward_scores_prompts_and_its_random_crop_stays_inside_the_frame(scorer):
    cfg, params, io = scorer
    reward = ViCLIPReward(cfg)
    assert isinstance(reward, RewardModel) and reward.tokenizes_text
    frames, tokens = io["wide_frames"], reward.tokenize(META["score_prompts"])
    np.testing.assert_array_equal(tokens, io["tokens"])
    score = jax.jit(reward.score)(params, frames, tokens)
    assert score.shape == (2,) and bool(jnp.all(jnp.abs(score) <= 1.0))
    # 24x40 frames become 224x373: the crop's top is 0 and its left any of 0..149, drawn per call.
    draws = np.asarray([random_crop_offset(jax.random.key(k), 224, 373, 224) for k in range(16)])
    assert (draws[:, 0] == 0).all() and (draws[:, 1] <= 149).all() and len(set(draws[:, 1])) > 1
    key = jax.random.key(3)
    np.testing.assert_array_equal(
        reward.preprocess(frames, key), preprocess(frames, 224, random_crop_offset(key, 224, 373, 224))
    )
    # Without a key the centre is cut, left = round(149 / 2) = 74 as torchvision's CenterCrop rounds.
    np.testing.assert_array_equal(reward.preprocess(frames), preprocess(frames, 224, jnp.asarray([0, 74])))


def test_score_gradient_reaches_every_frame_and_is_finite(scorer):
    cfg, params, io = scorer
    reward = ViCLIPReward(cfg, remat=True)
    tokens = jnp.asarray(reward.tokenize(META["score_prompts"]))
    grad = jax.jit(jax.grad(lambda f: reward.score(params, f, tokens, crop_key=jax.random.key(0)).sum()))(
        jnp.asarray(io["wide_frames"])
    )
    assert grad.shape == io["wide_frames"].shape and bool(jnp.isfinite(grad).all())
    assert bool((jnp.abs(grad).sum(axis=(2, 3, 4)) > 0).all())


def test_bf16_compute_stays_close_to_float32(tiny):
    cfg, params, io = tiny
    got = _video(params, cfg, io["frames"], dtype=jnp.bfloat16)
    assert got.dtype == jnp.float32 and relative_error(got, io["video_features"]) <= 5e-2


def test_full_size_keys_shapes_and_parameter_count_equal_official():
    for cfg, name, count in (
        (ViCLIPConfig.vit_l14(), "keys_viclip_l14.tsv", 427_590_145),
        (ViCLIPConfig.vit_b16(), "keys_viclip_b16.tsv", 149_603_841),
    ):
        official = _manifest(name)
        ours = viclip_manifest(cfg)
        assert ours == official
        assert sum(math.prod(s) for s in ours.values()) == count
    reward = ViCLIPReward()
    shapes = reward.params_shapes()
    assert shapes["vision_encoder"]["conv1"]["kernel"].shape == (1, 14, 14, 3, 1024)
    # The released recipe's input: 8 strided 320x512 frames (cut to 224x224 from 224x358), 77-token prompts.
    frames = jax.ShapeDtypeStruct((1, 8, 320, 512, 3), jnp.float32)
    tokens = jax.ShapeDtypeStruct((1, 77), jnp.int32)
    assert jax.eval_shape(reward.score, shapes, frames, tokens).shape == (1,)


def test_converter_lists_every_mismatch_at_once(tiny):
    cfg, params, _ = tiny
    weights = dict(load_file(str(FIXTURES / "tiny.safetensors")))
    del weights["vision_encoder.temporal_positional_embedding"]
    weights["text_encoder.transformer.resblocks.0.ln_1.weight"] = np.zeros(3, np.float32)
    weights["vision_encoder.extra.weight"] = np.zeros(1, np.float32)
    message = conversion_error(params_from_torch, weights, cfg)
    assert "1 keys missing from checkpoint:\n  vision_encoder.temporal_positional_embedding (1, 8, 32)" in message
    assert "1 keys unexpected in checkpoint:\n  vision_encoder.extra.weight" in message
    assert "text_encoder.transformer.resblocks.0.ln_1.weight: checkpoint (3,), expected (8,)" in message


def test_released_pth_layout_loads_without_torch_and_round_trips(tiny, tmp_path):
    torch = pytest.importorskip("torch")
    cfg, params, io = tiny
    state = {k: torch.from_numpy(v) for k, v in params_to_torch(params, prefix="module.").items()}
    path = tmp_path / "ViClip-InternVid-10M-FLT.pth"
    torch.save({"model": state}, path)  # the official loader reads torch.load(path)['model']
    loaded = load_viclip(path, cfg)
    np.testing.assert_array_equal(_video(loaded, cfg, io["frames"]), _video(params, cfg, io["frames"]))
    with pytest.raises(ConversionError, match=str(path)):
        load_viclip(path, ViCLIPConfig(**{**META["tiny"], "layers": 3}))


def test_config_takes_text_aliases_and_rejects_contradictions():
    assert ViCLIPConfig(text_width=512, text_heads=8, text_layers=6).transformer_layers == 6
    with pytest.raises(ValueError, match="text_width=512 contradicts transformer_width=768"):
        ViCLIPConfig(transformer_width=768, text_width=512)
    with pytest.raises(ValueError, match="output_dim"):
        ViCLIPConfig(output_dim=512)


def test_wrong_frame_count_is_rejected_with_the_expected_count(tiny):
    cfg, params, io = tiny
    with pytest.raises(ValueError, match="expected 8"):
        _video(params, cfg, io["frames"][:, :5])
