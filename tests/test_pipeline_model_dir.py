"""One converted-directory format for ``hummingbird convert`` and the text-to-video pipeline."""

import json

import jax
import numpy as np
import pytest
import yaml
from conftest import REFERENCE
from safetensors.numpy import load_file, save_file

from hummingbird_jax import cli, model_dir, registry, video_io
from hummingbird_jax.convert.checkpoint_io import load_torch_checkpoint
from hummingbird_jax.inference import TextToVideo
from hummingbird_jax.models.clip import CLIPTextConfig

TEXT_PREFIX, VAE_PREFIX = "cond_stage_model.model.", "first_stage_model."


def _with_prefix(tensors: dict, prefix: str) -> dict:
    return {k if k.startswith(prefix) else prefix + k: v for k, v in tensors.items()}


@pytest.fixture(scope="module")
def full_checkpoint(tmp_path_factory):
    """The reference fixtures' small student, VAE and text tower merged into one official-layout file
    with one YAML, as a released full checkpoint comes."""
    meta = json.loads((REFERENCE / "e2e.json").read_text())
    state = dict(load_file(str(REFERENCE / f"{meta['unet']}.safetensors")))
    state.update(_with_prefix(load_file(str(REFERENCE / f"{meta['vae']}.safetensors")), VAE_PREFIX))
    state.update(_with_prefix(load_file(str(REFERENCE / meta["text_encoder"]["weights"])), TEXT_PREFIX))
    state["alphas_cumprod"] = np.linspace(1, 0.01, 1000).astype(np.float32)  # ignored schedule buffer
    folder = tmp_path_factory.mktemp("official")
    save_file(state, str(folder / "model.safetensors"))
    doc = yaml.safe_load((REFERENCE / f"{meta['unet']}.yaml").read_text())
    doc["model"]["params"].update(yaml.safe_load((REFERENCE / f"{meta['vae']}.yaml").read_text())["model"]["params"])
    (folder / "model.yaml").write_text(yaml.safe_dump(doc))
    return folder / "model.safetensors", folder / "model.yaml", state


def test_converted_full_checkpoint_generates_a_playable_mp4(full_checkpoint, tmp_path, capsys):
    ckpt, config, state = full_checkpoint
    converted = tmp_path / "jax"
    argv = ["convert", "torch-to-jax", str(ckpt), "--config", str(config), "--text-heads", "4", "--out", str(converted)]
    assert cli.main(argv) == 0
    assert model_dir.components(str(converted)) == ["text_encoder", "unet", "vae"]

    bundle = TextToVideo.from_directory(converted)
    assert bundle.text_config.heads == 4  # small towers are not 64-wide per head: the flag says so
    direct = TextToVideo.from_checkpoint(ckpt, config, text_config=bundle.text_config)
    assert (bundle.unet_config, bundle.vae_config) == (direct.unet_config, direct.vae_config)
    assert bundle.text_config.embed_dim == state[TEXT_PREFIX + "text_projection"].shape[1]
    for a, b in zip(jax.tree_util.tree_leaves(bundle.params), jax.tree_util.tree_leaves(direct.params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

    out = tmp_path / "videos"
    argv = ["generate", "a corgi", "--checkpoint", str(converted), "--frames", "2", "--height", "64",
            "--width", "64", "--steps", "2", "--out", str(out)]
    assert cli.main(argv) == 0
    assert "timings (s): load" in capsys.readouterr().out
    info = video_io.video_info(out / "a-corgi.mp4")
    assert (info["codec"], info["width"], info["height"], info["frames"]) == ("h264", 64, 64, 2)
    decoded = video_io.read_video(out / "a-corgi.mp4")
    assert decoded.shape == (2, 64, 64, 3) and decoded.std() > 1


def test_saved_pipeline_exports_back_to_the_official_tensors(full_checkpoint, tmp_path):
    ckpt, config, state = full_checkpoint
    bundle = TextToVideo.from_checkpoint(ckpt, config, teacher=True,
                                         text_config=CLIPTextConfig(width=48, heads=4, layers=2))
    target = bundle.save(tmp_path / "model")
    assert model_dir.read_metadata(str(target)) == {"teacher": True}
    assert TextToVideo.from_directory(target).teacher is True
    assert TextToVideo.from_directory(target, teacher=False).teacher is False

    assert cli.main(["convert", "jax-to-torch", str(target), "--out", str(tmp_path / "back.safetensors")]) == 0
    back = load_torch_checkpoint(tmp_path / "back.safetensors")
    assert set(back) == set(state) - {"alphas_cumprod"}
    for key, value in back.items():
        np.testing.assert_array_equal(value, state[key], err_msg=key)


def test_every_component_config_round_trips_through_the_manifest(tmp_path):
    unet, vae = registry.unet("tiny-0.7b", time_cond_proj_dim=registry.GUIDANCE_EMBED_DIM), registry.vae("tiny-f8")
    text = CLIPTextConfig(width=48, heads=4, layers=2)  # embed_dim None stays None
    for name, config in (("unet", unet), ("vae", vae), ("text_encoder", text),
                         ("text_projected", CLIPTextConfig(width=48, heads=4, layers=2, embed_dim=32))):
        model_dir.save_component(str(tmp_path), name, {"w": np.zeros(2, np.float32)}, config)
        params, loaded = model_dir.load_component(str(tmp_path), name)
        assert loaded == config and type(loaded) is type(config)
    assert model_dir.read_metadata(str(tmp_path)) == {}


def test_incomplete_directories_are_refused_with_the_reason(full_checkpoint, tmp_path, capsys):
    _, _, state = full_checkpoint
    unet_only = {k: v for k, v in state.items() if k.startswith("model.diffusion_model.")}
    save_file(unet_only, str(tmp_path / "unet.safetensors"))
    config = str(REFERENCE / "unet_hb_0.7b.yaml")
    assert cli.main(["convert", "torch-to-jax", str(tmp_path / "unet.safetensors"), "--config", config,
                     "--out", str(tmp_path / "unet_dir")]) == 0
    with pytest.raises(ValueError, match="no vae, text_encoder"):
        TextToVideo.from_directory(tmp_path / "unet_dir")
    (tmp_path / "empty").mkdir()
    argv = ["generate", "a cat", "--checkpoint", str(tmp_path / "empty"), "--frames", "1", "--height", "64",
            "--width", "64", "--out", str(tmp_path / "out")]
    assert cli.main(argv) == 2
    assert "no model.json" in capsys.readouterr().err
