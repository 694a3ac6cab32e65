"""OpenCLIP text tower: U-Net context parity with the official FrozenOpenCLIPEmbedder, conversion."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import REFERENCE, read_manifest
from safetensors.numpy import load_file

from hummingbird_jax.convert import text_encoder_from_torch, text_encoder_to_torch
from hummingbird_jax.convert.clip import text_encoder_manifest
from hummingbird_jax.convert.rules import ConversionError
from hummingbird_jax.models import CLIPTextConfig, CLIPTextEncoder
from hummingbird_jax.text import tokenize


def _rel_err(a, b):
    return float(np.abs(np.asarray(a) - b).max() / np.abs(b).max())


@pytest.fixture(scope="module")
def fixture():
    meta = json.loads((REFERENCE / "text_encoder.json").read_text())
    cfg = CLIPTextConfig(width=meta["width"], heads=meta["heads"], layers=meta["layers"])
    return cfg, load_file(str(REFERENCE / "text_encoder.safetensors")), load_file(str(REFERENCE / "text_encoder.io.safetensors"))


def test_context_matches_official_penultimate_plus_ln_final(fixture):
    cfg, state_dict, io = fixture
    params = text_encoder_from_torch(state_dict, cfg)
    tokens = jnp.asarray(io["tokens"], jnp.int32)
    context = CLIPTextEncoder(cfg).apply({"params": params}, tokens)
    assert context.shape == (10, 77, 64) and context.dtype == jnp.float32
    assert _rel_err(context, io["penultimate_ln_final"]) <= 1e-4


def test_e2e_text_tower_reproduces_the_generation_context():
    meta = json.loads((REFERENCE / "e2e.json").read_text())
    te = meta["text_encoder"]
    cfg = CLIPTextConfig(width=te["width"], heads=te["heads"], layers=te["layers"])
    params = text_encoder_from_torch(load_file(str(REFERENCE / te["weights"])), cfg)
    io = load_file(str(REFERENCE / "e2e.io.safetensors"))
    context = CLIPTextEncoder(cfg).apply({"params": params}, jnp.asarray(tokenize(meta["prompts"])))
    assert _rel_err(context, io["context"]) <= 1e-4


def test_context_ignores_the_last_block_but_pooled_output_uses_it(fixture):
    cfg, state_dict, io = fixture
    params = text_encoder_from_torch(state_dict, cfg)
    last = f"resblocks.{cfg.layers - 1}"
    changed = jax.tree_util.tree_map(lambda x: x, params)
    changed["transformer"][last] = jax.tree_util.tree_map(lambda x: x + 1.0, params["transformer"][last])
    tokens = jnp.asarray(io["tokens"][:2], jnp.int32)
    model = CLIPTextEncoder(cfg)
    np.testing.assert_array_equal(model.apply({"params": params}, tokens), model.apply({"params": changed}, tokens))
    pooled = [model.apply({"params": p}, tokens, method=CLIPTextEncoder.encode_text) for p in (params, changed)]
    assert pooled[0].shape == (2, 32) and not np.allclose(pooled[0], pooled[1])


def test_causal_mask_keeps_earlier_positions_independent_of_later_tokens(fixture):
    cfg, state_dict, _ = fixture
    params = text_encoder_from_torch(state_dict, cfg)
    a, b = tokenize(["a red panda eating bamboo", "a red panda sleeping"])
    context = CLIPTextEncoder(cfg).apply({"params": params}, jnp.asarray(np.stack([a, b])))
    np.testing.assert_allclose(context[0, :4], context[1, :4], atol=1e-6)
    assert not np.allclose(context[0, 4], context[1, 4])


def test_conversion_round_trips_with_and_without_the_vc2_prefix(fixture):
    cfg, state_dict, _ = fixture
    params = text_encoder_from_torch(state_dict, cfg)
    back = text_encoder_to_torch(params)
    assert set(back) == set(state_dict)
    for key, value in state_dict.items():
        assert back[key].shape == value.shape, key
        np.testing.assert_array_equal(back[key], value, err_msg=key)
    bare = {k.removeprefix("cond_stage_model.model."): v for k, v in state_dict.items()}
    bare["visual.proj"] = np.zeros((3, 3), np.float32)  # an open_clip dict's image tower is skipped
    again = text_encoder_from_torch(bare, cfg)
    jax.tree_util.tree_map(np.testing.assert_array_equal, params, again)
    # A whole VC2 checkpoint: other namespaces are left alone.
    full = {**state_dict, "model.diffusion_model.out.2.bias": np.zeros(4, np.float32), "betas": np.zeros(3)}
    jax.tree_util.tree_map(np.testing.assert_array_equal, params, text_encoder_from_torch(full, cfg))


def test_conversion_reports_every_missing_and_misshaped_key(fixture):
    cfg, state_dict, _ = fixture
    broken = dict(state_dict)
    del broken["cond_stage_model.model.ln_final.weight"]
    broken["cond_stage_model.model.positional_embedding"] = np.zeros((76, 64), np.float32)
    with pytest.raises(ConversionError) as err:
        text_encoder_from_torch(broken, cfg)
    message = str(err.value)
    assert "ln_final.weight" in message and "positional_embedding: checkpoint (76, 64), expected (77, 64)" in message
    with pytest.raises(ConversionError, match="missing"):
        text_encoder_from_torch(state_dict, CLIPTextConfig(width=64, heads=4, layers=5))


def test_full_vit_h_14_keys_and_shapes_match_the_official_manifest():
    manifest = text_encoder_manifest()  # eval_shape only, nothing allocated
    assert manifest == read_manifest("keys_text_encoder.tsv")
    assert sum(int(np.prod(s)) for s in manifest.values()) == 354_032_641
