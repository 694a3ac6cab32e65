"""``hummingbird eval`` end to end on real mp4 files written here: a static clip against a noisy one,
a prompt-matching video against a mismatched one (hand-set tiny ViCLIP), reports, resuming, errors."""

import dataclasses
import json
import pathlib

import jax
import numpy as np
from test_eval_backbones import DINO_TINY, FIXTURES, OPENAI_TINY

from hummingbird_jax.cli import main as cli_main
from hummingbird_jax.convert.clip import load_dino, load_openai_clip_visual
from hummingbird_jax.evaluation import DIMENSIONS
from hummingbird_jax.evaluation.backbones import ImageTower
from hummingbird_jax.evaluation.runner import RESULTS_LOG, run_evaluation
from hummingbird_jax.evaluation.transforms import CLIP_MEAN, CLIP_STD
from hummingbird_jax.evaluation.viclip_backend import viclip_scorer
from hummingbird_jax.models.viclip import ViCLIP, ViCLIPConfig
from hummingbird_jax.text import tokenize
from hummingbird_jax.video_io import write_mp4


def _static_and_noisy(folder: pathlib.Path):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:64, 0:96]
    frame = np.stack([xx * 2, yy * 3, np.full_like(xx, 90)], -1).astype(np.uint8)
    write_mp4(folder / "static.mp4", np.repeat(frame[None], 8, axis=0), fps=8)
    write_mp4(folder / "noisy.mp4", rng.integers(0, 256, (8, 64, 96, 3), dtype=np.uint8), fps=8)
    return [(str(folder / "static.mp4"), None), (str(folder / "noisy.mp4"), None)]


def test_static_clip_scores_higher_consistency_and_lower_flicker_than_noisy_and_resumes(tmp_path):
    videos = _static_and_noisy(tmp_path)
    dino = ImageTower(DINO_TINY, load_dino(FIXTURES / "dino.pth", DINO_TINY))
    clip = ImageTower(OPENAI_TINY, load_openai_clip_visual(FIXTURES / "openai_clip.pt", OPENAI_TINY), 16)
    dims = [DIMENSIONS["temporal_flickering"],
            dataclasses.replace(DIMENSIONS["subject_consistency"], load=lambda _: dino, needs=()),
            dataclasses.replace(DIMENSIONS["background_consistency"], load=lambda _: clip, needs=())]
    lines = []
    paths = run_evaluation(videos, dims, str(tmp_path), str(tmp_path / "out"), log=lines.append)
    results = json.loads(pathlib.Path(paths["json"]).read_text())
    static, noisy = results["videos"]["static.mp4"], results["videos"]["noisy.mp4"]
    assert static["temporal_flickering"] > 0.999 > 0.8 > noisy["temporal_flickering"]
    assert static["subject_consistency"] > noisy["subject_consistency"]
    assert static["background_consistency"] > noisy["background_consistency"]
    assert any("ETA" in line for line in lines)
    markdown = pathlib.Path(paths["md"]).read_text()
    assert "VideoCrafter2 (paper)" in markdown and "| temporal_flickering |" in markdown
    assert pathlib.Path(paths["png"]).read_bytes()[:4] == b"\x89PNG"

    # A second run recomputes nothing: every (video, dimension) is in the log already.
    log = (tmp_path / "out" / RESULTS_LOG).read_text()
    lines.clear()
    run_evaluation(videos, dims, str(tmp_path), str(tmp_path / "out"), log=lines.append)
    assert (tmp_path / "out" / RESULTS_LOG).read_text() == log
    assert "2 already done" in lines[0]


def _colour_viclip():
    """A tiny ViCLIP with hand-set weights: the video feature is the frames' mean normalised colour,
    each colour word's embedding is that colour's normalised value; everything else attends uniformly."""
    cfg = ViCLIPConfig(input_resolution=224, patch_size=32, width=8, layers=1, heads=1, output_dim=8, kernel_size=1,
                       num_frames=8, embed_dim=8, context_length=32, transformer_width=8, transformer_heads=1,
                       transformer_layers=1)
    shapes = jax.eval_shape(lambda: ViCLIP(cfg).init(
        jax.random.key(0), np.zeros((1, 8, 224, 224, 3), np.float32), np.zeros((1, 32), np.int32)))["params"]
    params = jax.tree_util.tree_map_with_path(
        lambda path, s: np.ones(s.shape, np.float32) if path[-1].key == "scale" else np.zeros(s.shape, np.float32),
        shapes)
    vision, text = params["vision_encoder"], params["text_encoder"]
    for i in range(3):
        vision["conv1"]["kernel"][0, :, :, i, i] = 1 / 32**2  # patch token = mean colour of the patch
    for tower in (vision, text):
        attn = tower["transformer"]["resblocks.0"]["attn"]
        attn["in_proj"]["kernel"][:, 16:] = np.eye(8)  # q = k = 0 (uniform attention), v = identity
        attn["out_proj"]["kernel"][:] = np.eye(8)
    vision["proj"][:] = np.eye(8)
    text["text_projection"][:] = np.eye(8)
    for word, rgb in (("red", (230, 20, 20)), ("blue", (20, 20, 230))):
        token = tokenize([word], 32)[0, 1]
        text["token_embedding"]["embedding"][token, :3] = (np.array(rgb) / 255 - CLIP_MEAN) / CLIP_STD
    return viclip_scorer(params, cfg)


def test_prompt_matching_video_scores_higher_overall_consistency_than_mismatched(tmp_path):
    red = np.zeros((8, 64, 96, 3), np.uint8) + np.array([230, 20, 20], np.uint8)
    blue = np.zeros((8, 64, 96, 3), np.uint8) + np.array([20, 20, 230], np.uint8)
    for name, video in (("a red square-0.mp4", red), ("a blue square-0.mp4", blue), ("a blue square-1.mp4", red)):
        write_mp4(tmp_path / "videos" / name, video, fps=8)
    scorer = _colour_viclip()
    dim = dataclasses.replace(DIMENSIONS["overall_consistency"], load=lambda _: scorer, needs=())
    videos = [(str(tmp_path / "videos" / n), n.rsplit("-", 1)[0])
              for n in ("a red square-0.mp4", "a blue square-0.mp4", "a blue square-1.mp4")]
    paths = run_evaluation(videos, [dim], str(tmp_path), str(tmp_path / "out"), log=lambda _: None)
    scores = json.loads(pathlib.Path(paths["json"]).read_text())["videos"]
    mismatched = scores["a blue square-1.mp4"]["overall_consistency"]
    assert scores["a red square-0.mp4"]["overall_consistency"] > mismatched + 0.5
    assert scores["a blue square-0.mp4"]["overall_consistency"] > mismatched + 0.5


def test_cli_scores_a_folder_without_weights_and_names_missing_weight_files(tmp_path, capsys):
    _static_and_noisy(tmp_path)
    assert cli_main(["eval", str(tmp_path), "--dims", "temporal_flickering", "--out", str(tmp_path / "out")]) == 0
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["dimensions"]["temporal_flickering"]["videos"] == 2
    capsys.readouterr()
    code = cli_main(["eval", str(tmp_path), "--dims", "subject_consistency,aesthetic_quality",
                     "--weights", str(tmp_path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "dino_vitb16.pth (needed by subject_consistency)" in err
    assert "ViT-L-14.pt (needed by aesthetic_quality)" in err and "sa_0_4_vit_l_14_linear.pth" in err
    assert cli_main(["eval", str(tmp_path), "--dims", "colourfulness", "--out", str(tmp_path / "o")]) == 2
    assert "unknown dimension(s) colourfulness" in capsys.readouterr().err


def test_viclip_dimension_without_prompts_is_a_one_line_error(tmp_path, capsys):
    _static_and_noisy(tmp_path)
    assert cli_main(["eval", str(tmp_path), "--dims", "overall_consistency", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "needs each video's prompt" in err
