"""DOVER in Flax against the official evaluator (fixtures from ``tests/fixtures/dover/make_fixtures.py``)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import conversion_error, relative_error
from safetensors.numpy import load_file

from hummingbird_jax.convert.dover import dover_manifest, ignored_keys, load_dover
from hummingbird_jax.dover import (
    DOVERConfig,
    dover_params_from_torch,
    dover_scores,
    fuse_dover,
)
from hummingbird_jax.models.convnext3d import ConvNeXt3DConfig
from hummingbird_jax.models.dover import dover_score_maps
from hummingbird_jax.models.swin3d import Swin3DConfig

FIXTURES = Path(__file__).parent / "fixtures" / "dover"
MODELS = ("dover_small", "dover_mobile_small")
BRANCHES = ("technical", "aesthetic")


def _backbone(spec: dict, mobile: bool):
    if "convnext" in spec:
        spec = spec["convnext"]
    if "embed_dim" in spec:
        return Swin3DConfig(embed_dim=spec["embed_dim"], depths=tuple(spec["depths"]), num_heads=tuple(spec["num_heads"]),
                            window_size=tuple(spec["window_size"]), frag_biases=tuple(map(bool, spec["frag_biases"])))
    return ConvNeXt3DConfig(depths=tuple(spec["depths"]), dims=tuple(spec["dims"]), version=2 if mobile else 1)


def small_config(name: str) -> DOVERConfig:
    spec = json.loads((FIXTURES / f"{name}.json").read_text())
    head = spec["model_args"]["vqa_head"]
    mobile = spec["model_args"]["backbone"]["aesthetic"]["type"] == "conv_femto"
    return DOVERConfig(
        technical=_backbone(spec["technical_backbone"], mobile), aesthetic=_backbone(spec["aesthetic_backbone"], mobile),
        head_in_channels=head["in_channels"], head_hidden_channels=head["hidden_channels"],
        divide_head=spec["model_args"]["divide_head"],
    )


@pytest.fixture(scope="module", params=MODELS)
def model(request):
    name = request.param
    cfg = small_config(name)
    params = dover_params_from_torch(load_file(str(FIXTURES / f"{name}.safetensors")), cfg)
    return name, cfg, params, load_file(str(FIXTURES / f"{name}.io.safetensors"))


def _views(io, size):
    return {b: np.transpose(io[f"size{size}.{b}.input"].astype(np.float32), (0, 2, 3, 4, 1)) for b in BRANCHES}


@pytest.mark.parametrize("size", [0, 1])
def test_dover_score_maps_and_clip_scores_match_official_evaluator(model, size):
    name, cfg, params, io = model
    views = _views(io, size)
    maps = dover_score_maps(params, cfg, views)
    scores = dover_scores(params, cfg, views)
    for branch in BRANCHES:
        want = np.transpose(io[f"size{size}.{branch}.map"], (0, 2, 3, 4, 1))
        assert maps[branch].shape == want.shape
        assert relative_error(maps[branch], want) <= 1e-4, (name, branch)
        assert relative_error(scores[branch], io[f"size{size}.{branch}.clip_scores"]) <= 1e-4, (name, branch)


def test_fused_scores_match_official_fuse_results(model):
    _, _, _, io = model
    fused = fuse_dover(io["size0.technical.video_score"], io["size0.aesthetic.video_score"])
    grid = fuse_dover(io["fuse_grid.raw_technical"], io["fuse_grid.raw_aesthetic"])
    for key in ("technical", "aesthetic", "overall"):
        np.testing.assert_allclose(fused[key], io[f"size0.fused.{key}"], rtol=1e-6)
        np.testing.assert_allclose(grid[key], io[f"fuse_grid.{key}"], rtol=1e-12)
        assert np.all((grid[key] > 0) & (grid[key] < 1))


@pytest.mark.parametrize("tsv,yml", [("keys_dover", "dover.yml"), ("keys_dover_mobile", "dover-mobile.yml")])
def test_full_size_keys_shapes_and_parameter_count_match_official(tsv, yml):
    args = {
        "dover.yml": {"backbone": {"technical": {"type": "swin_tiny_grpb", "checkpoint": True, "pretrained": None},
                                   "aesthetic": {"type": "conv_tiny"}},
                      "backbone_preserve_keys": "technical,aesthetic", "divide_head": True,
                      "vqa_head": {"in_channels": 768, "hidden_channels": 64}},
        "dover-mobile.yml": yaml.safe_load(
            "backbone: {technical: {type: conv_femto}, aesthetic: {type: conv_femto}}\n"
            "backbone_preserve_keys: technical,aesthetic\ndivide_head: true\n"
            "vqa_head: {in_channels: 384, hidden_channels: 32}\n"),
    }[yml]
    cfg = DOVERConfig.from_official(args)
    rows = [line.split("\t") for line in (FIXTURES / f"{tsv}.tsv").read_text().splitlines()[1:]]
    official = {k: tuple(int(x) for x in s.split(",")) for k, s, kind in rows if kind == "param"}
    ours = dover_manifest(cfg)
    skipped = [k for k, _, kind in rows if kind == "buffer"] + [k for k in official if k not in ours]
    assert all(any(re.fullmatch(p, k) for p in ignored_keys(cfg)) for k in skipped)
    assert {k: v for k, v in official.items() if k in ours} == ours
    used = sum(int(np.prod(s)) for s in ours.values())
    unused = sum(int(np.prod(official[k])) for k in official if k not in ours)  # ConvNeXt-V2's classifier
    assert used + unused == sum(int(np.prod(s)) for s in official.values())
    assert used == {"keys_dover": 56_218_302, "keys_dover_mobile": 9_904_546}[tsv]


def test_converter_lists_every_mismatch_at_once():
    cfg = small_config("dover_small")
    state = dict(load_file(str(FIXTURES / "dover_small.safetensors")))
    del state["technical_head.fc_hid.weight"], state["aesthetic_backbone.norm.bias"]
    state["technical_backbone.layers.0.blocks.0.attn.fragment_position_bias_table"] = np.zeros((3, 1), np.float32)
    state["aesthetic_backbone.surprise"] = np.zeros(2, np.float32)
    message = conversion_error(dover_params_from_torch, state, cfg)
    for needle in ("2 keys missing", "technical_head.fc_hid.weight", "aesthetic_backbone.norm.bias",
                   "1 keys unexpected", "aesthetic_backbone.surprise", "1 keys with wrong shape",
                   "fragment_position_bias_table: checkpoint (3, 1)"):
        assert needle in message


def test_released_style_pth_loads_through_restricted_unpickler(tmp_path):
    """A ``torch.save``d state dict with the rebuilt buffers, as ``DOVER.pth`` ships."""
    cfg = small_config("dover_small")
    state = {k: torch.from_numpy(v) for k, v in load_file(str(FIXTURES / "dover_small.safetensors")).items()}
    state["technical_backbone.layers.0.blocks.0.attn.relative_position_index"] = torch.zeros(196, 196, dtype=torch.long)
    torch.save(state, tmp_path / "DOVER.pth")
    params = load_dover(tmp_path / "DOVER.pth", cfg)
    io = load_file(str(FIXTURES / "dover_small.io.safetensors"))
    scores = dover_scores(params, cfg, _views(io, 1))
    assert relative_error(scores["technical"], io["size1.technical.clip_scores"]) <= 1e-4


def test_from_official_rejects_unsupported_backbone_in_one_line():
    with pytest.raises(ValueError, match=r"model.args.backbone.technical.type: 'swin_huge' is not supported"):
        DOVERConfig.from_official({"backbone": {"technical": {"type": "swin_huge"}, "aesthetic": {"type": "conv_tiny"}},
                                   "backbone_preserve_keys": "technical,aesthetic", "divide_head": True})
