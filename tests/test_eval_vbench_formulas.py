"""Each VBench dimension's formula and preprocessing against VBench 0.1.5's own code, run by
``tests/fixtures/eval_backbones/make_fixtures.py`` on the two committed mp4 files with the same
tiny random-weight backbones (VBench's results are stored with the fixtures)."""

import pathlib

import numpy as np
import pytest
from safetensors.numpy import load_file
from test_eval_backbones import DINO_TINY, OPENAI_TINY

from hummingbird_jax.convert.clip import load_dino, load_openai_clip_visual
from hummingbird_jax.evaluation import (
    aesthetic_quality,
    background_consistency,
    subject_consistency,
)
from hummingbird_jax.evaluation.aesthetic_quality import (
    AestheticModel,
    aesthetic_from_features,
)
from hummingbird_jax.evaluation.backbones import ImageTower, load_linear_head
from hummingbird_jax.evaluation.consistency import frame_consistency, pooled_mean
from hummingbird_jax.evaluation.dimension import Video
from hummingbird_jax.evaluation.temporal_flickering import temporal_flickering
from hummingbird_jax.evaluation.viclip_dimension import (
    ViCLIPScorer,
    cosine_score,
    middle_frame_indices,
)
from hummingbird_jax.video_io import read_video

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "eval_backbones"
NAMES = ("smooth", "noisy")
PROMPTS = ["a red ball rolls", "a calm blue lake"]  # as in make_fixtures.py


@pytest.fixture(scope="module")
def vbench():
    return load_file(str(FIXTURES / "vbench.safetensors"))


@pytest.fixture(scope="module")
def videos():
    return {name: read_video(FIXTURES / f"{name}.mp4") for name in NAMES}


def _check(ours_per_video, ours_total, reference, tol=1e-5):
    assert np.abs(np.asarray(ours_per_video) - reference[1:]).max() <= tol
    assert abs(ours_total - reference[0]) <= tol


def test_pyav_decodes_the_same_frames_as_vbench_decord_reader(vbench, videos):
    for name in NAMES:
        np.testing.assert_array_equal(videos[name], vbench[f"{name}_frames"])


def test_frame_consistency_formula_matches_vbench_on_its_dino_and_clip_features(vbench):
    for dim, key in (("subject_consistency", "dino"), ("background_consistency", "clip")):
        results = [frame_consistency(vbench[f"{name}_{key}_features"]) for name in NAMES]
        _check([r[0] for r in results], pooled_mean(results), vbench[dim])


def test_temporal_flickering_matches_vbench(vbench, videos):
    scores = [temporal_flickering(videos[name]) for name in NAMES]
    _check(scores, float(np.mean(scores)), vbench["temporal_flickering"])


def test_aesthetic_formula_matches_vbench_on_its_clip_features(vbench):
    weight, bias = load_linear_head(str(FIXTURES / "aesthetic_head.pth"))
    scores = [aesthetic_from_features(vbench[f"{name}_clip_features"], weight, bias) for name in NAMES]
    _check(scores, float(np.mean(scores)), vbench["aesthetic_quality"])


def test_middle_frame_sampling_matches_vbench_get_frame_indices(vbench):
    for length in (3, 8, 16, 30, 77):
        assert middle_frame_indices(8, length) == vbench[f"middle_indices_{length}"].tolist()


def test_viclip_cosine_formula_matches_vbench_on_its_video_features(vbench):
    scores = [cosine_score(vbench["viclip_video_features"][i], vbench["viclip_text"][i]) for i in range(2)]
    _check(scores, float(np.mean(scores)), vbench["overall_consistency"])


def test_viclip_dimension_sampling_preprocessing_and_cosine_match_vbench(vbench, videos):
    """VBench's overall_consistency() with a ViCLIP stand-in (a fixed linear map of frame channel
    means): checks 8-frame sampling, uint8 bicubic resize + crop + normalisation and the score.
    Tolerance 1e-4: after the resize torchvision rounds to uint8, and pixels that land on an exact
    .5 round either way with the float summation order (PyTorch's and XLA's differ)."""
    projection = vbench["viclip_projection"]
    scorer = ViCLIPScorer(
        video_features=lambda x: np.asarray(x).mean(axis=(2, 3)).reshape(1, -1) @ projection,
        text_features=lambda prompt: vbench["viclip_text"][PROMPTS.index(prompt)],
    )
    scores = [scorer.score(Video(name, videos[name], 8.0, prompt))["score"] for name, prompt in zip(NAMES, PROMPTS)]
    _check(scores, float(np.mean(scores)), vbench["overall_consistency"], tol=1e-4)


def test_whole_dimensions_with_jax_backbones_match_vbench_end_to_end(vbench, videos):
    """Decode + preprocessing + converted backbone + formula against VBench's numbers."""
    dino = ImageTower(DINO_TINY, load_dino(FIXTURES / "dino.pth", DINO_TINY))
    clip_params = load_openai_clip_visual(FIXTURES / "openai_clip.pt", OPENAI_TINY)
    clip = ImageTower(OPENAI_TINY, clip_params, 16)
    aesthetic = AestheticModel(clip, *load_linear_head(str(FIXTURES / "aesthetic_head.pth")))
    for module, state in ((subject_consistency, dino), (background_consistency, clip), (aesthetic_quality, aesthetic)):
        dim = module.DIMENSION
        results = [dim.score(state, Video(name, videos[name], 8.0)) for name in NAMES]
        _check([r["score"] for r in results], dim.aggregate(results), vbench[dim.name], tol=1e-5)
