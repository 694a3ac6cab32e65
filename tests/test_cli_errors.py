"""Everyday mistakes end as one line naming the culprit and exit code 2 (no traceback); ``--debug``
shows the traceback; help and round trips a new user relies on."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import zipfile

import jax
import numpy as np
import pandas as pd
import pytest

from hummingbird_jax import cli, hardware, registry
from hummingbird_jax.convert.checkpoint_io import save_safetensors
from hummingbird_jax.inference import TextToVideo, abstract_params, random_params
from hummingbird_jax.model_dir import load_component
from hummingbird_jax.models.vae import VAEConfig


def _one_line_error(capsys, argv, *needles):
    code = cli.main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    """A tiny text-to-video directory (two U-Net levels) whose VAE downsamples by 2, not the usual 8."""
    unet = registry.unet("tiny-0.7b", time_cond_proj_dim=registry.GUIDANCE_EMBED_DIM, channel_mult=(1, 2),
                         attention_resolutions=(1,))
    text = registry.text_tower("tiny-w48")
    vae = VAEConfig(ch=32, ch_mult=(1, 2))
    abstract = abstract_params(unet, vae, text)
    rng = np.random.default_rng(0)
    params = {name: random_params(abstract[name], rng) for name in ("unet", "vae", "text_encoder")}
    return TextToVideo(unet, vae, text, params).save(tmp_path_factory.mktemp("model") / "tiny4")


# ---- info ------------------------------------------------------------------------------------------


def test_info_reports_broken_and_foreign_yaml_and_non_model_files_in_one_line(tmp_path, capsys):
    broken = tmp_path / "broken.yaml"
    broken.write_text("model:\n  params: [unclosed\n")
    _one_line_error(capsys, ["info", str(broken)], str(broken), "not valid YAML")
    foreign = tmp_path / "filter.yaml"
    foreign.write_text("min_duration: 2\nmax_motion: 5\n")
    _one_line_error(capsys, ["info", str(foreign)], str(foreign), "unet_config")
    typed = tmp_path / "typed.yaml"
    typed.write_text("model:\n  params:\n    unet_config:\n      params:\n        model_channels: wide\n")
    _one_line_error(capsys, ["info", str(typed)], str(typed), "model_channels")
    notes = tmp_path / "notes.txt"
    notes.write_text("not a model")
    line = _one_line_error(capsys, ["info", str(notes)], str(notes), "neither an official YAML")
    assert "preset" not in line.split("expected")[0]


@pytest.mark.parametrize("flags, needle", [(["--frames", "0"], "frames=0"), (["--height", "72"], "height=72")])
def test_info_rejects_the_sizes_generate_rejects(capsys, flags, needle):
    _one_line_error(capsys, ["info", "hb-0.7b", "--no-flops", *flags], needle)
    _one_line_error(capsys, ["generate", "a cat", "--random-init", "tiny-0.7b", *flags], needle)


def test_debug_flag_and_environment_show_the_traceback(tmp_path, capsys, monkeypatch):
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [")
    assert cli.main(["--debug", "info", str(broken)]) == 2
    assert "Traceback" in capsys.readouterr().err
    monkeypatch.setenv("HUMMINGBIRD_DEBUG", "1")
    assert cli.main(["info", str(broken)]) == 2
    assert "Traceback" in capsys.readouterr().err


# ---- generate ------------------------------------------------------------------------------------


def test_generate_checks_out_seed_and_checkpoint_before_loading(tmp_path, capsys):
    taken = tmp_path / "taken"
    taken.write_text("a file")
    _one_line_error(capsys, ["generate", "a cat", "--random-init", "tiny-0.7b", "--out", str(taken)], "--out", str(taken))
    _one_line_error(capsys, ["generate", "a cat", "--random-init", "tiny-0.7b", "--seed", "-5"], "--seed", "-5")
    text = tmp_path / "weights.safetensors"
    text.write_text("this is a text file named like weights\n" * 50)
    _one_line_error(capsys, ["generate", "a cat", "--checkpoint", str(text), "--out", str(tmp_path / "o")], str(text))


def test_generate_rejects_a_teacher_step_count_without_a_ddim_grid(tmp_path, capsys):
    """VC2's uniform grid for 3 steps would end at timestep 1000 (the official sampler indexes past ᾱ)."""
    out = tmp_path / "o"
    _one_line_error(capsys, ["generate", "a cat", "--random-init", "tiny-0.7b", "--teacher", "--steps", "3", "--out", str(out)],
                    "--steps", "e.g. 4")
    assert not out.exists()


def test_generate_help_shows_defaults(capsys):
    with pytest.raises(SystemExit):
        cli.main(["generate", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for text in ("(default 16)", "(default 320)", "(default 512)", "(default 0)", "(default outputs)"):
        assert text in out


def test_generate_prints_the_size_its_vae_really_writes(small_model, tmp_path, capsys):
    out = tmp_path / "videos"
    assert cli.main(["generate", "a red ball", "--checkpoint", str(small_model), "--frames", "1", "--height", "64",
                     "--width", "128", "--steps", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "1×16×32" in printed
    assert f"), {hardware.fastest_dtype()}\n" in printed  # --dtype auto: the dtype decided for this machine
    from hummingbird_jax import video_io

    assert video_io.read_video(out / "a-red-ball.mp4").shape[1:3] == (16, 32)


# ---- convert --------------------------------------------------------------------------------------


def test_convert_torch_to_jax_reports_unreadable_and_unsafe_checkpoints_in_one_line(tmp_path, capsys):
    truncated = tmp_path / "cut.safetensors"
    save_safetensors({"w": np.ones((64, 64), np.float32)}, truncated)
    truncated.write_bytes(truncated.read_bytes()[:200])
    _one_line_error(capsys, ["convert", "torch-to-jax", str(truncated), "--config", "vc2", "--out", str(tmp_path / "a")],
                    str(truncated))
    unsafe = tmp_path / "evil.ckpt"
    with zipfile.ZipFile(unsafe, "w") as archive:
        archive.writestr("archive/data.pkl", b"cos\nsystem\n(S'echo pwned'\ntR.")
    _one_line_error(capsys, ["convert", "torch-to-jax", str(unsafe), "--config", "vc2", "--out", str(tmp_path / "b")],
                    str(unsafe), "refusing")
    not_zip = tmp_path / "broken.ckpt"
    not_zip.write_bytes(b"PK\x03\x04" + os.urandom(64))
    _one_line_error(capsys, ["convert", "torch-to-jax", str(not_zip), "--out", str(tmp_path / "c")], str(not_zip))
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_a_tiny_model_exported_to_torch_converts_back(small_model, tmp_path, capsys):
    exported = tmp_path / "tiny4.safetensors"
    assert cli.main(["convert", "jax-to-torch", str(small_model), "--out", str(exported)]) == 0
    back = tmp_path / "back"
    assert cli.main(["convert", "torch-to-jax", str(exported), "--out", str(back)]) == 0
    capsys.readouterr()
    for name in ("unet", "vae", "text_encoder"):
        (params, config), (params_back, config_back) = (load_component(str(d), name) for d in (small_model, back))
        if name == "text_encoder":  # an unset embed_dim comes back read off text_projection
            config = dataclasses.replace(config, embed_dim=config.embed_dim or config_back.embed_dim)
        assert config_back == config
        for a, b in zip(jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(params_back)):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert load_component(str(back), "vae")[1].downsample_factor == 2


def test_a_damaged_model_directory_is_named(small_model, tmp_path, capsys):
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "model.json").write_text('{"components": {"unet": ')
    _one_line_error(capsys, ["info", str(damaged)], str(damaged / "model.json"), "not valid JSON")
    _one_line_error(capsys, ["generate", "a cat", "--checkpoint", str(damaged), "--out", str(tmp_path / "o")],
                    str(damaged / "model.json"))


# ---- train, data, help ----------------------------------------------------------------------------


def test_train_refuses_a_file_as_workdir_and_a_mesh_larger_than_the_devices(tmp_path, capsys):
    taken = tmp_path / "taken"
    taken.write_text("a file")
    _one_line_error(capsys, ["train", "stage1_distill", "--variant", "tiny", "--workdir", str(taken)], str(taken))
    workdir = tmp_path / "run"
    too_many = 4 * jax.device_count()
    _one_line_error(capsys, ["train", "stage1_distill", "--variant", "tiny", "--workdir", str(workdir),
                             "--set", f"mesh.data={too_many}"], f"mesh.data={too_many}", "device")
    _one_line_error(capsys, ["train", "stage1_distill", "--variant", "tiny", "--workdir", str(workdir),
                             "--set", "sample_every=5", "--set", "sample_steps=3"], "sample_steps=3", "e.g. 4")
    assert not workdir.exists()


def test_recaption_without_a_model_names_the_flag_and_the_way_around(tmp_path, capsys):
    manifest = tmp_path / "in.csv"
    pd.DataFrame({"path": [str(tmp_path / "a.mp4")], "text": ["a cat"]}).to_csv(manifest, index=False)
    empty = tmp_path / "no_model"
    empty.mkdir()
    (empty / "config.json").write_text(json.dumps({"model_type": "llama"}))
    _one_line_error(capsys, ["data", "recaption", str(manifest), "--model", str(empty), "--out", str(tmp_path / "o.csv")],
                    "--model", str(empty))
    videos = tmp_path / "videos"
    videos.mkdir()
    _one_line_error(capsys, ["data", "run", str(videos), "--model", str(tmp_path / "missing_lm"),
                             "--out", str(tmp_path / "run")], "--skip-recaption")


def test_top_level_help_lists_every_nested_command():
    out = subprocess.run([sys.executable, "-m", "hummingbird_jax.cli", "--help"], capture_output=True, text=True,
                         check=True).stdout
    flat = " ".join(out.split())
    assert "bench latency|memory" in flat and "encode" in flat.split("data ", 1)[1]
