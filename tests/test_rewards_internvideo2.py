"""InternVideo2-Stage2 reward: features, scores and tokens equal the original code's (fixtures made by
``tests/fixtures/internvideo2/make_fixtures.py``), the 1B model's parameters match the original's
manifest, and the score's gradient reaches the frames."""

import json
import math
import pathlib
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import conversion_error, relative_error
from safetensors.numpy import load_file

from hummingbird_jax import registry
from hummingbird_jax.convert.internvideo2 import ignored_patterns, internvideo2_manifest
from hummingbird_jax.models.internvideo2 import param_shapes
from hummingbird_jax.rewards.base import RewardModel
from hummingbird_jax.rewards.internvideo2 import (
    InternVideo2Config,
    InternVideo2Reward,
    params_from_torch,
    text_features,
    video_features,
)
from hummingbird_jax.text.wordpiece import WordPieceTokenizer

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "internvideo2"
CONFIGS = json.loads((FIXTURES / "configs.json").read_text())
PROMPTS = json.loads((FIXTURES / "prompts.json").read_text())
TOL = 1e-4


def _config(name: str) -> InternVideo2Config:
    c = CONFIGS[name]
    return InternVideo2Config.from_official(c["vision"], c["bert"], c["embed_dim"], c["fusion_layer"])


def _setup(name: str):
    return _config(name), load_file(FIXTURES / f"{name}.safetensors"), load_file(FIXTURES / f"{name}_io.safetensors")


def _nhwc(frames_nchw):
    return jnp.asarray(frames_nchw).transpose(0, 1, 3, 4, 2)


@pytest.mark.parametrize("name", ["main", "alt"])
def test_internvideo2_features_and_scores_match_official_fixture(name):
    cfg, state, io = _setup(name)
    params = params_from_torch(state, cfg)
    video = jax.jit(video_features, static_argnums=1)(params, cfg, _nhwc(io["pixel_values"]))
    text = jax.jit(text_features, static_argnums=1)(params, cfg, jnp.asarray(io["input_ids"]),
                                                    jnp.asarray(io["attention_mask"]))
    assert relative_error(video, io["video_features"]) <= TOL
    assert relative_error(text, io["text_features"]) <= TOL
    assert relative_error(jnp.sum(video * text[: len(video)], -1), io["scores"]) <= TOL
    np.testing.assert_allclose(np.linalg.norm(np.asarray(video), axis=-1), 1.0, rtol=1e-5)


def test_internvideo2_reward_reproduces_official_reward_fn_from_raw_frames():
    """Resize (short side), crop at the original's offset, normalise, encode, cosine with the prompt."""
    cfg, state, io = _setup("main")
    reward = InternVideo2Reward(cfg, vocab=str(FIXTURES / "vocab.txt"))
    params = params_from_torch(state, cfg)
    raw = _nhwc(io["raw_frames"])
    offset = tuple(int(v) for v in io["crop"])
    pixels = reward.preprocess(raw, offset=offset)
    assert relative_error(pixels, np.asarray(io["pixel_values"]).transpose(0, 1, 3, 4, 2)) <= TOL
    video = jax.jit(lambda p, f: reward.video_features(p, f, offset=offset))(params, raw)
    text = jax.jit(reward.text_features)(params, jnp.asarray(reward.tokenize(PROMPTS[: len(raw)])))
    assert relative_error(jnp.sum(video * text, -1), io["scores"]) <= TOL


def test_wordpiece_ids_equal_official_tokenizer_cls_without_sep():
    ids, mask = WordPieceTokenizer(str(FIXTURES / "vocab.txt"), max_length=40).tokenize(PROMPTS)
    _, _, io = _setup("main")
    np.testing.assert_array_equal(ids, io["input_ids"])
    np.testing.assert_array_equal(mask, io["attention_mask"])
    assert ids.shape == (len(PROMPTS), 40) and mask[4].all()  # the long prompt is cut at 40


def test_wordpiece_pieces_equal_transformers_slow_bert_tokenizer():
    transformers = pytest.importorskip("transformers")
    vocab = str(FIXTURES / "vocab.txt")
    slow_class = getattr(transformers, "BertTokenizerLegacy", None) or transformers.BertTokenizer
    slow = slow_class(vocab_file=vocab, do_lower_case=True)
    ids, mask = WordPieceTokenizer(vocab, max_length=40).tokenize(PROMPTS)
    for row, prompt in enumerate(PROMPTS):
        pieces = slow.encode(prompt, add_special_tokens=False)[:39]
        assert ids[row, 0] == slow.cls_token_id
        assert ids[row, 1 : 1 + len(pieces)].tolist() == pieces
        assert int(mask[row].sum()) == len(pieces) + 1


def test_params_from_torch_takes_module_prefix_and_lists_every_mismatch():
    cfg, state, _ = _setup("alt")
    plain = params_from_torch(state, cfg)
    prefixed = params_from_torch({"module." + k: v for k, v in state.items()}, cfg)
    assert jax.tree_util.tree_all(jax.tree_util.tree_map(np.array_equal, plain, prefixed))
    broken = dict(state)
    del broken["vision_proj.weight"], broken["text_encoder.encoder.layer.0.output.dense.bias"]
    broken["vision_encoder.blocks.0.attn.proj.weight"] = np.zeros((3, 3), np.float32)
    broken["vision_encoder.extra"] = np.zeros(2, np.float32)
    message = conversion_error(params_from_torch, broken, cfg)
    for key in ("vision_proj.weight", "layer.0.output.dense.bias", "blocks.0.attn.proj.weight", "vision_encoder.extra"):
        assert key in message


def test_stage2_1b_parameters_match_official_manifest():
    """Every parameter the features use, with the original's name and shape, and nothing else."""
    rows = {}
    for line in (FIXTURES / "stage2_1b_manifest.tsv").read_text().splitlines():
        if not line.startswith("#"):
            key, shape, count = line.split("\t")
            rows[key] = (tuple(int(d) for d in shape.split("x")), int(count))
    cfg = InternVideo2Config.stage2_1b()
    ignored = [re.compile(p.replace(r"(bert\.)?", "")) for p in ignored_patterns(cfg)]
    used = {k: shape for k, (shape, _) in rows.items() if not any(p.fullmatch(k) for p in ignored)}
    ours = internvideo2_manifest(cfg)
    assert ours == used
    ours_count = sum(math.prod(s.shape) for s in jax.tree_util.tree_leaves(param_shapes(cfg)))
    assert ours_count == sum(count for k, (_, count) in rows.items() if k in used)
    assert 1.0e9 < ours_count < sum(count for _, count in rows.values())


def test_internvideo2_score_gradient_reaches_frames():
    reward = InternVideo2Reward(registry.reward_config("internvideo2", "tiny", 4))
    assert isinstance(reward, RewardModel)
    params = reward.init_params(jax.random.key(0))
    tokens = jnp.asarray(reward.tokenize(["a red car at night", "two dogs"]))
    frames = jax.random.uniform(jax.random.key(1), (2, 4, 36, 48, 3))

    def total(f):
        scores = reward.score(params, f, tokens, crop_key=jax.random.key(2))
        return jnp.sum(scores), scores

    (_, scores), grad = jax.jit(jax.value_and_grad(total, has_aux=True))(frames)
    assert scores.shape == (2,) and bool(jnp.all(jnp.abs(scores) <= 1.0 + 1e-5))
    assert bool(jnp.all(jnp.isfinite(grad))) and float(jnp.max(jnp.abs(grad))) > 0.0
    assert float(jnp.max(jnp.abs(grad[:, 1]))) > 0.0  # every frame, not only the first
