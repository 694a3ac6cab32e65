"""`hummingbird data run`: ingest -> motion -> recaption -> filter on a folder, read by the input pipeline."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import json

import numpy as np
import pytest

from hummingbird_jax.cli import main
from hummingbird_jax.curation import read_manifest
from hummingbird_jax.curation.motion_clips import render_clip, write_video
from hummingbird_jax.curation.recaption import SYSTEM_PROMPT
from hummingbird_jax.curation.tiny_lm import build_tiny_chat_model


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("raw")
    for i, label in enumerate(["pan", "zoom_out", "dolly_zoom", "object_motion"]):
        write_video(root / f"{label}.mp4", render_clip(label, size=(96, 128), frames=20, seed=20 + i))
    (root / "pan.txt").write_text("a city street at night")
    (root / "empty.mp4").write_bytes(b"")
    (root / "text.mov").write_text("definitely not a movie")
    return root


def test_whole_chain_from_one_command_feeds_the_input_pipeline(folder, tmp_path):
    model = build_tiny_chat_model(tmp_path / "llm", [SYSTEM_PROMPT])  # random weights, saved locally
    out = tmp_path / "curated"
    argv = ["data", "run", str(folder), "--out", str(out), "--model", str(model), "--workers", "1",
            "--batch-size", "4", "--max-new-tokens", "8", "--no-progress"]
    assert main(argv) in (0, None)

    summary = json.loads((out / "summary.json").read_text())
    assert summary["ingest"]["failures"] == {"empty": 1, "unreadable": 1}
    assert summary["motion"]["counts"] == {"pan": 1, "zoom_out": 1, "dolly_zoom": 1, "object_motion": 1}
    assert summary["recaption"]["processed"] == 4
    assert summary["filter"]["removed"] == {"error:empty": 1, "error:unreadable": 1,
                                            "camera_motion in ['dolly_zoom']": 1}
    assert (out / "report" / "report.md").exists() and (out / "report" / "motion_magnitude.png").exists()

    manifest = read_manifest(out / "manifest.csv")
    assert list(manifest.columns[:3]) == ["path", "text", "fps"]
    assert sorted(os.path.basename(p) for p in manifest["path"]) == ["object_motion.mp4", "pan.mp4", "zoom_out.mp4"]
    assert all(os.path.isabs(p) for p in manifest["path"])
    assert set(manifest["recaption_status"]) <= {"ok"} | {f"fallback:{r}" for r in
                                                          ("empty", "refusal", "preamble", "truncated", "list",
                                                           "too_short", "too_long")}

    # The training input pipeline reads the manifest and cuts clips from every row.
    from hummingbird_jax.data.clips import ClipConfig, ClipTransform
    from hummingbird_jax.data.manifest import Manifest

    rows = Manifest(str(out / "manifest.csv"))
    transform = ClipTransform(ClipConfig(frames=4, size=(32, 48), skip_first=0),
                              tokenizer=lambda texts: np.zeros((len(texts), 77), np.int32), random=False)
    examples = [transform(rows[i]) for i in range(len(rows))]
    assert all(isinstance(e, dict) and e["video"].shape == (4, 32, 48, 3) for e in examples), examples
    assert {float(e["fps_orig"]) for e in examples} == {24.0}

    # Running the same command again does no work: every stage resumes from its journal.
    assert main(argv) in (0, None)
    again = json.loads((out / "summary.json").read_text())
    assert [again[s]["processed"] for s in ("ingest", "motion", "recaption")] == [0, 0, 0]
