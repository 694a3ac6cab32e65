"""Whole OpenCLIP CLIP (as HPSv2 uses it): image/text features and cosine parity, checkpoint formats."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import REFERENCE
from safetensors.numpy import load_file

from hummingbird_jax.convert import clip_from_torch, clip_to_torch, load_clip
from hummingbird_jax.convert.checkpoint_io import save_safetensors
from hummingbird_jax.convert.clip import clip_manifest
from hummingbird_jax.convert.rules import ConversionError
from hummingbird_jax.models import CLIP, CLIPConfig, CLIPTextConfig, CLIPVisionConfig
from hummingbird_jax.models.clip import normalize_features



def _config() -> CLIPConfig:
    meta = json.loads((REFERENCE / "clip.json").read_text())
    v = meta["vision"]
    vision = CLIPVisionConfig(
        width=v["width"], layers=v["layers"], heads=v["width"] // v["head_width"],
        patch_size=v["patch_size"], image_size=v["image_size"],
    )
    return CLIPConfig(embed_dim=meta["embed_dim"], vision=vision, text=CLIPTextConfig(**meta["text"]))


@pytest.fixture(scope="module")
def reference():
    return load_file(str(REFERENCE / "clip.safetensors")), load_file(str(REFERENCE / "clip.io.safetensors"))


def _rel_err(a, b):
    return float(np.abs(np.asarray(a) - b).max() / np.abs(b).max())


def test_image_text_features_and_cosine_match_open_clip(reference):
    state_dict, io = reference
    cfg = _config()
    params = clip_from_torch(state_dict, cfg)
    model = CLIP(cfg)
    images = jnp.asarray(io["images"].transpose(0, 2, 3, 1))  # NCHW -> NHWC
    image = model.apply({"params": params}, images, method=CLIP.encode_image)
    text = model.apply({"params": params}, jnp.asarray(io["tokens"], jnp.int32), method=CLIP.encode_text)
    assert _rel_err(image, io["image_features"]) <= 1e-4
    assert _rel_err(text, io["text_features"]) <= 1e-4
    cosine = jnp.sum(normalize_features(image) * normalize_features(text), axis=-1)
    np.testing.assert_allclose(cosine, io["cosine_score"], atol=1e-5)


def test_hps_style_state_dict_file_and_safetensors_load_identically(reference, tmp_path):
    torch = pytest.importorskip("torch")
    state_dict, _ = reference
    cfg = _config()
    pt = tmp_path / "HPS_v2.1_compressed.pt"
    torch.save({"state_dict": {k: torch.from_numpy(np.array(v)) for k, v in state_dict.items()}}, pt)
    st = tmp_path / "open_clip_model.safetensors"
    save_safetensors({"module." + k: v for k, v in state_dict.items()}, st)  # DataParallel prefix
    a, b = load_clip(pt, cfg), load_clip(st, cfg)
    jax.tree_util.tree_map(np.testing.assert_array_equal, a, b)
    jax.tree_util.tree_map(np.testing.assert_array_equal, a, clip_from_torch({"state_dict": state_dict}, cfg))
    back = clip_to_torch(a)
    assert set(back) == set(state_dict)
    for key, value in state_dict.items():
        assert back[key].shape == value.shape, key
        np.testing.assert_array_equal(back[key], value, err_msg=key)


def test_wrong_architecture_is_reported_with_the_file_name(reference, tmp_path):
    state_dict, _ = reference
    path = tmp_path / "clip.safetensors"
    save_safetensors(state_dict, path)
    cfg = _config()
    bigger = CLIPConfig(cfg.embed_dim, CLIPVisionConfig(64, 3, 2, 14, 56), CLIPTextConfig(64, 4, 3))
    with pytest.raises(ConversionError, match=r"clip\.safetensors.*\n.*missing.*\n.*visual\.transformer\.resblocks\.2"):
        load_clip(path, bigger)


def test_wrong_image_size_is_rejected_before_running(reference):
    cfg = _config()
    params = clip_from_torch(reference[0], cfg)
    with pytest.raises(ValueError, match="NHWC"):
        CLIP(cfg).apply({"params": params}, jnp.zeros((1, 3, 56, 56)), method=CLIP.encode_image)


def test_vit_h_14_has_open_clip_size():
    shapes = clip_manifest()  # eval_shape only
    assert shapes["visual.conv1.weight"] == (1280, 3, 14, 14)
    assert shapes["visual.positional_embedding"] == (257, 1280)
    assert shapes["visual.proj"] == (1280, 1024) and shapes["text_projection"] == (1024, 1024)
    assert sum(int(np.prod(s)) for s in shapes.values()) == 986_109_441
