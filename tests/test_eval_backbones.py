"""Evaluation backbones against the official PyTorch modules (tiny, random weights; fixtures from
``tests/fixtures/eval_backbones/make_fixtures.py``): DINO's ViT, OpenAI CLIP's image tower read from
a TorchScript release file, the LAION linear head; full-size key manifests."""

import pathlib

import jax.numpy as jnp
import numpy as np
import pytest
from safetensors.numpy import load_file

from hummingbird_jax.convert.clip import (
    load_dino,
    load_openai_clip_visual,
    vision_manifest,
)
from hummingbird_jax.convert.rules import ConversionError
from hummingbird_jax.evaluation.backbones import load_linear_head
from hummingbird_jax.models.clip import CLIPVisionConfig, CLIPVisionEncoder

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "eval_backbones"
DINO_TINY = CLIPVisionConfig(width=48, layers=2, heads=4, patch_size=8, image_size=32, ln_eps=1e-6,
                             patch_bias=True, ln_pre=False, projection=False, any_size=True)
OPENAI_TINY = CLIPVisionConfig(width=64, layers=2, heads=1, patch_size=16, image_size=224, activation="quick_gelu")


def _rel_err(a, b):
    return float(np.abs(np.asarray(a) - b).max() / np.abs(b).max())


@pytest.mark.parametrize("case", ["square", "wide"])
def test_dino_matches_official_vision_transformer_at_any_image_size(case):
    io = load_file(str(FIXTURES / "dino.io.safetensors"))
    params = load_dino(FIXTURES / "dino.pth", DINO_TINY)
    out = CLIPVisionEncoder(DINO_TINY).apply({"params": params}, jnp.asarray(io[case]))
    assert _rel_err(out, io[f"{case}_out"]) <= 1e-4


def test_openai_clip_image_tower_read_from_torchscript_matches_official_encode_image():
    io = load_file(str(FIXTURES / "openai_clip.io.safetensors"))
    params = load_openai_clip_visual(FIXTURES / "openai_clip.pt", OPENAI_TINY)
    out = CLIPVisionEncoder(OPENAI_TINY, 16).apply({"params": params}, jnp.asarray(io["images"]))
    assert _rel_err(out, io["image_features"]) <= 1e-4


def test_openai_clip_with_the_wrong_config_names_every_mismatched_key():
    wrong = CLIPVisionConfig(width=64, layers=3, heads=1, patch_size=16, image_size=224, activation="quick_gelu")
    with pytest.raises(ConversionError, match=r"openai_clip\.pt.*\n.*missing.*\n\s+visual\.transformer\.resblocks\.2"):
        load_openai_clip_visual(FIXTURES / "openai_clip.pt", wrong)


def test_laion_head_reads_a_linear_state_dict():
    weight, bias = load_linear_head(str(FIXTURES / "aesthetic_head.pth"))
    assert weight.shape == (16,) and bias.shape == ()


def test_full_size_manifests_have_the_released_key_counts_and_shapes():
    dino = vision_manifest(CLIPVisionConfig.dino_vit_b_16(), dino=True)
    assert len(dino) == 4 + 12 * 12 + 2  # patch conv w/b, cls, pos; 12 tensors per block; final norm
    assert dino["pos_embed"] == (197, 768) and dino["blocks.11.attn.qkv.weight"] == (2304, 768)
    assert sum(int(np.prod(s)) for s in dino.values()) == 85_798_656  # DINO ViT-B/16 backbone
    b32 = vision_manifest(CLIPVisionConfig.openai_vit_b_32(), 512)
    assert b32["visual.conv1.weight"] == (768, 3, 32, 32) and b32["visual.proj"] == (768, 512)
    assert sum(int(np.prod(s)) for s in b32.values()) == 87_849_216  # OpenAI ViT-B/32 image tower
    l14 = vision_manifest(CLIPVisionConfig.openai_vit_l_14(), 768)
    assert sum(int(np.prod(s)) for s in l14.values()) == 303_966_208  # OpenAI ViT-L/14 image tower
