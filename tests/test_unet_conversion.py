"""Key manifests, teacher→student pruning, conversion errors and the convert/info commands."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import REFERENCE, conversion_error, read_manifest

from hummingbird_jax.cli import main
from hummingbird_jax.convert.checkpoint_io import load_torch_checkpoint
from hummingbird_jax.convert.prune import block_map, prune_teacher_to_student
from hummingbird_jax.convert.rules import ConversionError, torch_key_for
from hummingbird_jax.convert.unet import (
    UNET_PREFIX,
    UNET_RULES,
    unet_from_torch,
    unet_to_torch,
    unet_torch_shapes,
)
from hummingbird_jax.models.unet3d import unet_param_shapes
from hummingbird_jax.models.unet_config import UNet3DConfig
from hummingbird_jax.param_paths import flax_paths

PRESETS = {"vc2_teacher": UNet3DConfig.vc2_teacher, "hb_0.9b": UNet3DConfig.hummingbird_0_9b,
           "hb_0.7b": UNet3DConfig.hummingbird_0_7b}


@pytest.mark.parametrize("time_cond", [False, True])
@pytest.mark.parametrize("name", list(PRESETS))
def test_full_size_keys_and_shapes_equal_the_official_manifest(name, time_cond):
    cfg = PRESETS[name](time_cond_proj_dim=256 if time_cond else None)
    manifest = read_manifest(f"keys_unet_{name}{'+time_cond_proj' if time_cond else ''}.tsv")
    assert unet_torch_shapes(cfg) == manifest


def test_full_size_parameter_counts():
    counts = {name: sum(int(np.prod(s)) for s in unet_torch_shapes(make()).values()) for name, make in PRESETS.items()}
    assert counts == {"vc2_teacher": 1_413_284_420, "hb_0.9b": 945_127_300, "hb_0.7b": 772_009_860}
    with_proj = sum(int(np.prod(s)) for s in unet_torch_shapes(UNet3DConfig.hummingbird_0_7b(256)).values())
    assert with_proj - counts["hb_0.7b"] == 81_920


def _student_to_teacher_keys(teacher_cfg, student_cfg):
    mapping = block_map(teacher_cfg, student_cfg)
    out = {}
    for path, leaf in flax_paths(unet_param_shapes(student_cfg)).items():
        top, rest = path.split("/", 1)
        student_key, _ = torch_key_for(path, UNET_RULES, len(leaf.shape))
        teacher_key, _ = torch_key_for(f"{mapping[top]}/{rest}", UNET_RULES, len(leaf.shape))
        out[UNET_PREFIX + student_key] = UNET_PREFIX + teacher_key
    return out


@pytest.mark.parametrize("name", ["hb_0.9b", "hb_0.7b"])
def test_prune_map_equals_the_official_one(name):
    official = dict(line.split("\t") for line in (REFERENCE / f"prune_map_{name}.tsv").read_text().splitlines())
    assert _student_to_teacher_keys(UNet3DConfig.vc2_teacher(), PRESETS[name]()) == official


def test_pruned_student_holds_the_teacher_tensors_at_a_reduced_width():
    teacher_cfg = UNet3DConfig.from_lvdm_yaml(str(REFERENCE / "unet_vc2_teacher.yaml"))
    teacher_sd = load_torch_checkpoint(REFERENCE / "unet_vc2_teacher.safetensors")
    student_cfg = teacher_cfg.replace(num_res_blocks=1, use_middle_block=False)
    student = unet_to_torch(prune_teacher_to_student(unet_from_torch(teacher_sd, teacher_cfg), student_cfg,
                                                     teacher_cfg), student_cfg)
    mapping = _student_to_teacher_keys(teacher_cfg, student_cfg)
    assert set(student) == set(mapping)
    for student_key, teacher_key in mapping.items():
        np.testing.assert_array_equal(student[student_key], teacher_sd[teacher_key], err_msg=student_key)


def test_stage2_student_starts_with_a_zero_guidance_projection():
    teacher_cfg = UNet3DConfig.from_lvdm_yaml(str(REFERENCE / "unet_vc2_teacher.yaml"))
    teacher = unet_from_torch(load_torch_checkpoint(REFERENCE / "unet_vc2_teacher.safetensors"), teacher_cfg)
    del teacher["time_cond_proj"]  # the VC2 teacher has no guidance projection
    teacher_cfg = teacher_cfg.replace(time_cond_proj_dim=None)
    student_cfg = teacher_cfg.replace(num_res_blocks=1, use_middle_block=False, time_cond_proj_dim=256)
    student = prune_teacher_to_student(teacher, student_cfg, teacher_cfg)
    assert not np.any(np.asarray(student["time_cond_proj"]["kernel"]))


def test_mismatched_checkpoint_lists_every_problem_in_one_error():
    cfg = UNet3DConfig.from_lvdm_yaml(str(REFERENCE / "unet_hb_0.7b.yaml"))
    state = dict(load_torch_checkpoint(REFERENCE / "unet_hb_0.7b.safetensors"))
    del state[UNET_PREFIX + "out.2.bias"]
    del state[UNET_PREFIX + "time_embed.0.weight"]
    state[UNET_PREFIX + "stray.weight"] = np.zeros(3, np.float32)
    state[UNET_PREFIX + "out.2.weight"] = np.zeros((4, 32, 1, 1), np.float32)
    state["betas"] = np.zeros(1000, np.float32)  # schedule buffers outside the namespace are ignored
    message = conversion_error(unet_from_torch, state, cfg)
    assert "2 keys missing" in message and "model.diffusion_model.out.2.bias" in message
    assert "model.diffusion_model.time_embed.0.weight" in message
    assert "1 keys unexpected" in message and "stray.weight" in message
    assert "1 keys with wrong shape" in message and "(4, 32, 1, 1)" in message and "(4, 32, 3, 3)" in message


def test_teacher_checkpoint_is_refused_for_a_student_config():
    student_cfg = UNet3DConfig.from_lvdm_yaml(str(REFERENCE / "unet_hb_0.7b.yaml"))
    with pytest.raises(ConversionError, match="unexpected"):
        unet_from_torch(load_torch_checkpoint(REFERENCE / "unet_vc2_teacher.safetensors"), student_cfg)


def test_convert_commands_round_trip_through_an_orbax_directory(tmp_path, capsys):
    source = REFERENCE / "unet_hb_0.9b.safetensors"
    yaml = str(REFERENCE / "unet_hb_0.9b.yaml")
    assert main(["convert", "torch-to-jax", str(source), "--config", yaml, "--out", str(tmp_path / "jax")]) == 0
    assert (tmp_path / "jax" / "model.json").is_file()
    assert main(["convert", "jax-to-torch", str(tmp_path / "jax"), "--out", str(tmp_path / "back.ckpt")]) == 0
    original = load_torch_checkpoint(source)
    back = torch.load(tmp_path / "back.ckpt", weights_only=True)["state_dict"]
    assert set(back) == set(original)
    for key, value in original.items():
        np.testing.assert_array_equal(back[key].numpy(), value, err_msg=key)
    assert main(["convert", "jax-to-torch", str(tmp_path / "jax"), "--out", str(tmp_path / "back.bin")]) == 2
    assert ".safetensors or .ckpt" in capsys.readouterr().err


def test_info_prints_exact_parameter_counts(capsys):
    assert main(["info", "hb-0.7b", "--no-flops"]) == 0
    assert "parameters: 772,009,860" in capsys.readouterr().out
    assert main(["info", "vc2", "--time-cond", "--no-flops"]) == 0
    assert "parameters: 1,413,366,340" in capsys.readouterr().out
    assert main(["info", "hb-0.7b", "--frames", "2", "--height", "64", "--width", "64"]) == 0
    assert "TFLOP" in capsys.readouterr().out
    assert main(["info", "no-such-model"]) == 2
    assert "unknown U-Net preset" in capsys.readouterr().err
