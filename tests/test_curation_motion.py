"""Camera-motion classifier on synthetic videos with known motion, written as real MP4 files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hummingbird_jax.cli import main
from hummingbird_jax.curation import MotionStage, classify, clip_scores, read_manifest
from hummingbird_jax.curation.motion_clips import (
    MOTION_CLASSES,
    render_clip,
    write_video,
)

# (size, speed, seed): a small 4:3 frame at a slow speed and a wide frame at a fast one.
SETTINGS = [((96, 128), 0.5, 11), ((112, 192), 1.5, 12)]


@pytest.mark.parametrize("label", MOTION_CLASSES)
@pytest.mark.parametrize("size,speed,seed", SETTINGS)
def test_classifier_recovers_the_synthesised_camera_motion(tmp_path, label, size, speed, seed):
    path = tmp_path / f"{label}.mp4"
    write_video(path, render_clip(label, size=size, frames=20, speed=speed, seed=seed))
    scores = clip_scores(str(path), 0, 20)
    assert classify(scores) == label, scores


def _scores(tmp_path, label, seed=5):
    path = tmp_path / f"{label}.mp4"
    write_video(path, render_clip(label, size=(96, 128), frames=20, speed=1.0, seed=seed))
    return clip_scores(str(path), 0, 20)


def test_dolly_zoom_has_a_still_centre_where_a_plain_zoom_scales_everywhere(tmp_path):
    dolly, zoom = _scores(tmp_path, "dolly_zoom"), _scores(tmp_path, "zoom_in")
    assert abs(zoom["motion_zoom_edge"]) > 0.01 and abs(dolly["motion_zoom_edge"]) > 0.01
    assert zoom["motion_zoom_center"] / zoom["motion_zoom_edge"] == pytest.approx(1.0, abs=0.3)
    assert abs(dolly["motion_zoom_center"]) < 0.1 * abs(dolly["motion_zoom_edge"])


def test_scores_follow_direction_and_speed(tmp_path):
    frames = render_clip("static", size=(64, 96), frames=1, seed=3)[0]
    canvas = np.concatenate([frames] * 3, axis=1)
    right = np.stack([np.roll(canvas, 2 * t, axis=1)[:, 96:192] for t in range(12)])  # content moves right 2 px/frame
    write_video(tmp_path / "right.mp4", right)
    scores = clip_scores(str(tmp_path / "right.mp4"), 0, 12)
    assert scores["motion_pan"] == pytest.approx(2 / 96, rel=0.15)  # fraction of frame width per frame
    assert abs(scores["motion_tilt"]) < 0.1 * scores["motion_pan"]
    assert scores["motion_magnitude"] == pytest.approx(2 / 96, rel=0.15)
    assert classify(scores) == "pan"


def test_clip_span_is_analysed_on_its_own_frames(tmp_path):
    video = np.concatenate([render_clip("static", size=(64, 96), frames=24, seed=7),
                            render_clip("tilt", size=(64, 96), frames=24, seed=8)])
    write_video(tmp_path / "cut.mp4", video)
    pd.DataFrame({"path": ["cut.mp4", "cut.mp4", "gone.mp4"], "text": ["a", "b", "c"],
                  "start_frame": [0, 24, 0], "end_frame": [24, 48, 10]}).to_csv(tmp_path / "in.csv", index=False)
    code = main(["data", "motion", str(tmp_path / "in.csv"), "--out", str(tmp_path / "out.csv"),
                 "--workers", "1", "--no-progress"])
    assert code in (0, None)
    frame = read_manifest(tmp_path / "out.csv")
    assert frame["camera_motion"].tolist()[:2] == ["static", "tilt"]
    assert frame["error"][2].startswith("motion_failed")
    assert set(MotionStage.columns) <= set(frame.columns)
