"""Ingest (folder / WebVid CSV probing, broken files flagged) and scene splitting."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hummingbird_jax.cli import main
from hummingbird_jax.curation import SceneSplitStage, ingest, read_manifest, run_stage
from hummingbird_jax.curation.motion_clips import render_clip, write_video


@pytest.fixture(scope="module")
def video_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    write_video(root / "pan_shot.mp4", render_clip("pan", size=(64, 96), frames=12, seed=1), fps=24)
    (root / "nested").mkdir()
    write_video(root / "nested" / "clip.mp4", render_clip("static", size=(48, 64), frames=10, seed=2), fps=12)
    (root / "nested" / "clip.txt").write_text("a red kite over the hills\n")
    (root / "zero.mp4").write_bytes(b"")
    (root / "notes.mp4").write_text("not a video at all")
    good = (root / "pan_shot.mp4").read_bytes()
    (root / "truncated.mp4").write_bytes(good[: len(good) // 3])
    (root / "readme.txt").write_text("ignored: not a video extension")
    return root


def test_folder_ingest_probes_videos_and_flags_broken_files(video_folder, tmp_path):
    summary = ingest(video_folder, tmp_path / "m.csv", workers=2, progress=False)  # process pool
    frame = read_manifest(tmp_path / "m.csv").set_index(
        read_manifest(tmp_path / "m.csv")["path"].map(lambda p: p.split("/videos")[-1].split("/", 1)[1])
    )
    assert sorted(frame.index) == ["nested/clip.mp4", "notes.mp4", "pan_shot.mp4", "truncated.mp4", "zero.mp4"]
    pan = frame.loc["pan_shot.mp4"]
    assert (pan.fps, pan.frames, pan.width, pan.height, pan.codec) == (24.0, 12, 96, 64, "h264")
    assert pan.duration == pytest.approx(0.5, abs=0.05) and pan.text == "pan shot"
    clip = frame.loc["nested/clip.mp4"]
    assert (clip.fps, clip.frames, clip.text, clip.caption_source) == (12.0, 10, "a red kite over the hills", "sidecar")
    assert frame.loc["zero.mp4", "error"].startswith("empty")
    assert frame.loc["notes.mp4", "error"].startswith("unreadable")
    assert frame.loc["truncated.mp4", "error"].split(":")[0] in ("unreadable", "undecodable")
    assert pd.isna(pan.error) and pd.isna(clip.error)
    assert summary.rows_in == 5 and sum(summary.failures.values()) == 3


def test_webvid_csv_maps_to_page_dir_layout_and_flags_missing_videos(video_folder, tmp_path):
    root = tmp_path / "webvid"
    (root / "0001").mkdir(parents=True)
    (root / "0001" / "42.mp4").write_bytes((video_folder / "pan_shot.mp4").read_bytes())
    pd.DataFrame(
        {"videoid": [42, 43], "contentUrl": ["u1", "u2"], "duration": ["PT00H00M01S", "PT00H00M02S"],
         "page_dir": ["0001", "0001"], "name": ["Aerial shot of a beach", "Missing one"]}
    ).to_csv(tmp_path / "results_2M_val.csv", index=False)
    summary = ingest(tmp_path / "results_2M_val.csv", tmp_path / "m.parquet", video_root=root, progress=False)
    frame = read_manifest(tmp_path / "m.parquet")
    assert frame["path"].tolist() == [str(root / "0001" / "42.mp4"), str(root / "0001" / "43.mp4")]
    assert frame["text"].tolist() == ["Aerial shot of a beach", "Missing one"]
    assert frame["webvid_duration"].tolist() == ["PT00H00M01S", "PT00H00M02S"]
    assert frame["frames"][0] == 12 and frame["error"][1].startswith("missing")
    assert summary.failures == {"missing": 1}


def test_split_cuts_scenes_into_clip_rows(tmp_path):
    two = np.concatenate([render_clip("pan", size=(64, 96), frames=20, seed=3),
                          render_clip("tilt", size=(64, 96), frames=24, seed=4)])
    write_video(tmp_path / "two.mp4", two)
    write_video(tmp_path / "one.mp4", render_clip("zoom_in", size=(64, 96), frames=16, seed=5))
    (tmp_path / "bad.mp4").write_bytes(b"")
    ingest(tmp_path, tmp_path / "in.csv", progress=False)
    summary = run_stage(SceneSplitStage(min_scene_len=8), tmp_path / "in.csv", tmp_path / "out.csv", progress=False)
    frame = read_manifest(tmp_path / "out.csv")
    spans = {(p.rsplit("/", 1)[-1], s, e) for p, s, e in zip(frame["path"], frame["start_frame"], frame["end_frame"])
             if not pd.isna(s)}
    assert spans == {("two.mp4", 0, 20), ("two.mp4", 20, 44), ("one.mp4", 0, 16)}
    two_rows = frame[frame["path"].str.endswith("two.mp4")]
    assert two_rows["frames"].tolist() == [20, 24] and two_rows["video_frames"].tolist() == [44, 44]
    assert two_rows["duration"].tolist() == pytest.approx([20 / 24, 1.0], abs=1e-3)
    assert summary.rows_in == 3 and summary.rows_out == 4 and summary.skipped_with_error == 1


def test_cli_ingest_reports_a_missing_source(tmp_path, capsys):
    assert main(["data", "ingest", str(tmp_path / "nowhere"), "--out", str(tmp_path / "m.csv")]) == 2
    assert "nowhere' does not exist" in capsys.readouterr().err
