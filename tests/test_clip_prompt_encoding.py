"""encode_prompts: U-Net context per prompt, each distinct prompt encoded once, "" as unconditional."""

import json

import jax.numpy as jnp
import numpy as np
import pytest
from conftest import REFERENCE
from safetensors.numpy import load_file

from hummingbird_jax.convert import text_encoder_from_torch
from hummingbird_jax.models import CLIPTextConfig, CLIPTextEncoder
from hummingbird_jax.text import tokenize
from hummingbird_jax.text_encoding import (
    PromptEncoder,
    encode_prompts,
    unconditional_embedding,
    unique_prompts,
)



@pytest.fixture(scope="module")
def tower():
    meta = json.loads((REFERENCE / "e2e.json").read_text())["text_encoder"]
    cfg = CLIPTextConfig(width=meta["width"], heads=meta["heads"], layers=meta["layers"])
    return cfg, text_encoder_from_torch(load_file(str(REFERENCE / meta["weights"])), cfg)


def test_repeated_prompts_give_the_rows_of_a_direct_batch_call(tower):
    cfg, params = tower
    prompts = ["a corgi running on the beach", "", "a corgi running on the beach", "clouds", ""]
    context = encode_prompts(params, prompts, cfg)
    direct = CLIPTextEncoder(cfg).apply({"params": params}, jnp.asarray(tokenize(prompts)))
    assert context.shape == (5, 77, cfg.width)
    np.testing.assert_allclose(context, direct, atol=1e-5)
    np.testing.assert_array_equal(context[0], context[2])


def test_generation_context_matches_the_official_e2e_fixture(tower):
    cfg, params = tower
    meta = json.loads((REFERENCE / "e2e.json").read_text())
    reference = load_file(str(REFERENCE / "e2e.io.safetensors"))["context"]
    context = encode_prompts(params, meta["prompts"], cfg)
    assert float(np.abs(context - reference).max() / np.abs(reference).max()) <= 1e-4


def test_unique_prompts_keeps_first_seen_order():
    distinct, index = unique_prompts(["b", "a", "b", "c", "a"])
    assert distinct == ["b", "a", "c"] and index.tolist() == [0, 1, 0, 2, 1]
    with pytest.raises(TypeError):
        unique_prompts("a single string")


def test_unconditional_embedding_is_the_empty_prompt(tower):
    cfg, params = tower
    uncond = unconditional_embedding(params, cfg, batch_size=3)
    assert uncond.shape == (3, 77, cfg.width)
    np.testing.assert_array_equal(uncond[2], encode_prompts(params, [""], cfg)[0])
    encoder = PromptEncoder(params, cfg)
    np.testing.assert_array_equal(encoder.unconditional(2), uncond[:2])
    np.testing.assert_allclose(encoder(["", "x"])[0], uncond[0], atol=1e-5)  # other batch shape


def test_empty_prompt_list_is_rejected(tower):
    cfg, params = tower
    with pytest.raises(ValueError, match="at least one prompt"):
        encode_prompts(params, [], cfg)
