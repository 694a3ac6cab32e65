"""The DOVER quality stage on real mp4 files: scores, broken files, resume, filtering, CLI errors.

The model is the small DOVER of ``tests/fixtures/dover`` (weights saved here as a ``torch.save``
``.pth``, the released format) with small view settings, so a run takes seconds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.numpy import load_file
from test_dover_parity import FIXTURES, small_config
from test_dover_views import SMALL_TYPES

from hummingbird_jax.curation.filter import run_filter
from hummingbird_jax.curation.quality import QUALITY_COLUMNS, QualityStage
from hummingbird_jax.curation.stage import journal_path, run_stage
from hummingbird_jax.curation.tables import read_manifest
from hummingbird_jax.video_io import write_mp4


def _video(kind: str, frames: int = 24, size=(96, 128), seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    h, w = size
    ys, xs = np.mgrid[0:h, 0:w]
    out = np.empty((frames, h, w, 3), np.uint8)
    for t in range(frames):
        if kind == "noise":
            out[t] = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        else:
            smooth = 127 + 100 * np.sin(xs / 15 + t / 4 + seed) * np.cos(ys / (19 + seed))
            out[t] = np.repeat(smooth[..., None], 3, -1).astype(np.uint8)
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("quality")
    rows = []
    for i, kind in enumerate(["noise", "smooth", "noise", "smooth"]):
        path = write_mp4(folder / f"v{i}.mp4", _video(kind, seed=i), fps=12)
        rows.append({"path": str(path), "text": f"video {i}"})
    broken = folder / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video")
    rows.append({"path": str(broken), "text": "broken"})
    weights = folder / "DOVER_small.pth"
    state = {k: torch.from_numpy(v) for k, v in load_file(str(FIXTURES / "dover_small.safetensors")).items()}
    torch.save(state, weights)
    manifest = folder / "in.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    return folder, manifest, weights


def _stage(weights, batch_size=2):
    return QualityStage(weights, config=small_config("dover_small"), batch_size=batch_size, sample_types=SMALL_TYPES)


def test_quality_stage_scores_videos_flags_broken_file_and_resumes(corpus):
    folder, manifest, weights = corpus
    out = folder / "scored.csv"
    table = read_manifest(manifest)
    summary = run_stage(_stage(weights), table.iloc[:2], out, progress=False)  # an interrupted run's rows
    assert summary.processed == 2
    partial = read_manifest(out)
    summary = run_stage(_stage(weights), manifest, out, progress=False)
    assert summary.reused == 2 and summary.processed == 3
    scored = read_manifest(out)
    good, bad = scored.iloc[:4], scored.iloc[4]
    for column in QUALITY_COLUMNS:
        assert good[column].between(0, 1, inclusive="neither").all()
    assert good["dover_technical"].nunique() == 4
    assert str(bad["error"]).startswith("unreadable:") and pd.isna(bad["dover_overall"])
    assert summary.failures == {"unreadable": 1}
    # a fresh run (another output) in other batches gives the journal's scores again
    fresh = run_stage(_stage(weights, batch_size=3), manifest, folder / "fresh.csv", progress=False)
    assert fresh.processed == 5
    np.testing.assert_allclose(read_manifest(folder / "fresh.csv")["dover_overall"].iloc[:4], good["dover_overall"], rtol=1e-5)
    np.testing.assert_allclose(partial["dover_overall"], good["dover_overall"].iloc[:2], rtol=0)
    # re-running the finished command recomputes nothing and rewrites the same table
    again = run_stage(_stage(weights), manifest, out, progress=False)
    assert again.processed == 0 and again.reused == 5
    pd.testing.assert_frame_equal(read_manifest(out), scored)
    header = json.loads(journal_path(out).read_text().splitlines()[0])
    assert header["stage"] == "quality"


def test_clip_rows_are_scored_on_their_own_frames(corpus):
    folder, manifest, weights = corpus
    path = read_manifest(manifest)["path"][0]
    clips = pd.DataFrame({"path": [path, path], "text": ["a", "b"], "start_frame": [0, 12], "end_frame": [12, 24]})
    out = folder / "clips.csv"
    run_stage(_stage(weights, batch_size=1), clips, out, progress=False)
    scored = read_manifest(out)
    assert scored[list(QUALITY_COLUMNS)].notna().all().all()
    assert scored["dover_technical"].iloc[0] != scored["dover_technical"].iloc[1]


def test_quality_columns_filter_and_get_histograms(corpus, tmp_path):
    folder, manifest, weights = corpus
    scored = folder / "for_filter.csv"
    run_stage(_stage(weights), manifest, scored, progress=False)
    table = read_manifest(scored)
    threshold = float(np.median(table["dover_technical"].dropna()))
    config = tmp_path / "filter.yaml"
    config.write_text(f"drop_errors: true\nrules:\n  dover_technical: {{min: {threshold}}}\n"
                      "  dover_aesthetic: {min: 0.0, max: 1.0}\n  dover_overall: {min: 0.0}\n")
    report = run_filter(scored, tmp_path / "train.csv", config, tmp_path / "report")
    kept = read_manifest(tmp_path / "train.csv")
    assert (kept["dover_technical"] >= threshold).all()
    assert report["rows_out"] == int((table["dover_technical"] >= threshold).sum())
    assert report["removed"].get("error:unreadable") == 1
    for column in QUALITY_COLUMNS:
        assert (tmp_path / "report" / f"{column}.png").is_file()


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "hummingbird_jax.cli", "data", *args], capture_output=True, text=True)


def test_cli_rejects_missing_or_mismatched_weights_in_one_line(corpus, tmp_path):
    folder, manifest, weights = corpus
    missing = _cli("quality", str(manifest), "--out", str(tmp_path / "o.csv"), "--weights", str(tmp_path / "none.pth"))
    assert missing.returncode != 0 and "DOVER weights" in missing.stderr and "do not exist" in missing.stderr
    assert "Traceback" not in missing.stderr
    wrong = _cli("quality", str(manifest), "--out", str(tmp_path / "o.csv"), "--weights", str(weights),
                 "--dover-config", "dover")
    assert wrong.returncode != 0 and "Traceback" not in wrong.stderr
    assert "keys missing from checkpoint" in wrong.stderr and str(Path(weights).resolve()) in wrong.stderr


def test_data_run_includes_quality_stage_when_given(corpus, tmp_path):
    from hummingbird_jax.curation.run import run_curation

    folder, manifest, weights = corpus
    videos = tmp_path / "videos"
    videos.mkdir()
    for i in range(2):
        write_mp4(videos / f"clip{i}.mp4", _video("smooth", seed=i + 5), fps=12)
    summaries = run_curation(videos, tmp_path / "run", recaption=False, quality=_stage(weights), progress=False,
                             log=lambda *_: None)
    assert summaries["quality"]["processed"] == 2
    assert (tmp_path / "run" / "02b_quality.csv").is_file()
    final = read_manifest(tmp_path / "run" / "manifest.csv")
    assert final[list(QUALITY_COLUMNS)].notna().all().all()
