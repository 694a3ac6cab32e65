"""The whole 4-step generation of the reference fixtures: tokens → context → denoised → video."""

import json

import jax
import numpy as np
import pytest
from conftest import REFERENCE, assert_close_to_range
from safetensors.numpy import load_file

from hummingbird_jax.inference import TextToVideo, check_generation_args
from hummingbird_jax.models.clip import CLIPTextConfig
from hummingbird_jax.models.unet_config import UNet3DConfig
from hummingbird_jax.models.vae import VAEConfig
from hummingbird_jax.text import tokenize


def to_channels_last(video):
    """PyTorch (b, c, t, h, w) → ours (b, t, h, w, c)."""
    return np.moveaxis(np.asarray(video), 1, -1)


@pytest.fixture(scope="module")
def e2e():
    meta = json.loads((REFERENCE / "e2e.json").read_text())
    state_dict = {}
    for name in (meta["unet"], meta["vae"]):
        state_dict.update(load_file(str(REFERENCE / f"{name}.safetensors")))
    state_dict.update(load_file(str(REFERENCE / meta["text_encoder"]["weights"])))
    text = meta["text_encoder"]
    bundle = TextToVideo.from_state_dict(
        state_dict,
        UNet3DConfig.from_lvdm_yaml(str(REFERENCE / f"{meta['unet']}.yaml")),
        VAEConfig.from_lvdm_yaml(str(REFERENCE / f"{meta['vae']}.yaml")),
        CLIPTextConfig(width=text["width"], heads=text["heads"], layers=text["layers"]),
    )
    return meta, bundle, load_file(str(REFERENCE / "e2e.io.safetensors"))


def test_four_step_generation_reproduces_context_denoised_and_video(e2e):
    meta, bundle, io = e2e
    assert meta["steps"] == 4 and meta["lcm_origin_steps"] == 50
    np.testing.assert_array_equal(tokenize(meta["prompts"]), io["tokens"])
    context = bundle.encode_text(meta["prompts"])
    assert_close_to_range(context, io["context"])

    timings = {}
    noise = np.moveaxis(io["noise"], 2, -1)  # (steps, b, c, t, h, w) → (steps, b, t, h, w, c)
    denoised = bundle.sample_latents(context, to_channels_last(io["latents_init"]), noise, steps=4,
                                     fps=meta["fps"], guidance=meta["guidance_scale"], timings=timings)
    assert_close_to_range(denoised, to_channels_last(io["denoised"]))
    video = bundle.decode(denoised, chunk_size=2, timings=timings)
    assert_close_to_range(video, to_channels_last(io["video"]))
    assert set(timings) == {"compile", "unet", "vae"} and timings["compile"] > 0

    # a second run of the same shapes reuses the compiled programs
    again = {}
    bundle.sample_latents(context, to_channels_last(io["latents_init"]), noise, steps=4, fps=8, guidance=7.5,
                          timings=again)
    assert again["compile"] == 0.0


def test_saved_directory_loads_back_to_the_same_params(e2e, tmp_path):
    _, bundle, _ = e2e
    target = bundle.save(tmp_path / "model")
    assert sorted(p.name for p in target.iterdir()) == ["model.json", "text_encoder", "unet", "vae"]
    loaded = TextToVideo.from_directory(target)
    assert loaded.unet_config == bundle.unet_config and loaded.vae_config == bundle.vae_config
    assert loaded.text_config == bundle.text_config and loaded.teacher is False
    for a, b in zip(jax.tree_util.tree_leaves(loaded.params), jax.tree_util.tree_leaves(bundle.params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    with pytest.raises(FileExistsError, match="already exists"):
        bundle.save(target)


def test_impossible_sizes_are_rejected_before_compiling():
    with pytest.raises(ValueError, match="height=100.*multiples of 64"):
        check_generation_args(1, 16, 100, 512, 8)
    with pytest.raises(ValueError, match="width=32"):
        check_generation_args(1, 16, 320, 32, 8)
    with pytest.raises(ValueError, match="frames=0"):
        check_generation_args(1, 0, 320, 512, 8)


def test_one_official_file_with_its_yaml_loads_all_three_models(e2e, tmp_path):
    import yaml
    from safetensors.numpy import save_file

    meta, bundle, _ = e2e
    merged = {}
    for name in (f"{meta['unet']}.safetensors", f"{meta['vae']}.safetensors", meta["text_encoder"]["weights"]):
        merged.update(load_file(str(REFERENCE / name)))
    merged["alphas_cumprod"] = np.ones(1000, np.float32)  # schedule buffers ride along and are ignored
    save_file(merged, str(tmp_path / "model.safetensors"))
    doc = yaml.safe_load((REFERENCE / f"{meta['unet']}.yaml").read_text())
    doc["model"]["params"].update(yaml.safe_load((REFERENCE / f"{meta['vae']}.yaml").read_text())["model"]["params"])
    (tmp_path / "model.yaml").write_text(yaml.safe_dump(doc))

    text = meta["text_encoder"]
    loaded = TextToVideo.from_checkpoint(tmp_path / "model.safetensors", tmp_path / "model.yaml",
                                         text_config=CLIPTextConfig(text["width"], text["heads"], text["layers"]))
    assert loaded.unet_config == bundle.unet_config and loaded.unet_config.time_cond_proj_dim == 256
    assert loaded.vae_config == bundle.vae_config
    for a, b in zip(jax.tree_util.tree_leaves(loaded.params), jax.tree_util.tree_leaves(bundle.params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("manifest,preset", [("vc2_teacher", "vc2"), ("hb_0.9b", "hb-0.9b"),
                                             ("hb_0.7b+time_cond_proj", "hb-0.7b")])
def test_the_unet_variant_is_recognised_from_checkpoint_keys(manifest, preset):
    from hummingbird_jax.convert.full_model import unet_preset_from_keys

    lines = (REFERENCE / f"keys_unet_{manifest}.tsv").read_text().splitlines()
    keys = [line.split("\t")[0] for line in lines if line.startswith("model.")]
    assert unet_preset_from_keys(keys) == preset
    with pytest.raises(ValueError, match="not a VideoCrafter2/Hummingbird checkpoint"):
        unet_preset_from_keys(["first_stage_model.encoder.conv_in.weight"])
