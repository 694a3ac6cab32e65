"""``hummingbird demo --preset smoke``: the whole toy-world run, every phase, through the real CLI.

World → curation → judge → VAE → text → reward → teacher → stage 1 → stage 2 (with the reward) →
evaluation, on the smallest sizes; then the same command again resumes and redoes nothing.
"""

import json
import os
import subprocess
import sys

from PIL import Image

from hummingbird_jax.toy_world.world import CLIP_FRAMES

MODELS = ("teacher", "student_pruned", "student_stage1", "student_stage2")
METRICS = {"steps", "semantic_accuracy", "accuracy_by_label", "motion", "temporal_consistency", "temporal_flickering",
           "latency_s", "params"}


def _run_demo(out, preset="smoke"):
    command = [sys.executable, "-m", "hummingbird_jax.cli", "demo", "--preset", preset, "--out", str(out)]
    return subprocess.run(command, capture_output=True, text=True, env=os.environ.copy(), timeout=900)


def _demo(out):
    proc = _run_demo(out)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def test_smoke_demo_runs_every_phase_writes_the_report_and_resumes(tmp_path):
    out = tmp_path / "demo"
    log = _demo(out)
    report = json.loads((out / "report.json").read_text())
    assert set(report) == {*MODELS, "student_stage2_by_steps"}
    for name in MODELS:
        assert set(report[name]) == METRICS and 0.0 <= report[name]["semantic_accuracy"] <= 1.0
        by_label = report[name]["accuracy_by_label"]
        assert set(by_label) == {"shape", "colour", "motion", "all"} and all(0 <= v <= 1 for v in by_label.values())
    assert report["teacher"]["steps"] == 10 and report["student_stage2"]["steps"] == 4  # smoke: teacher DDIM 10
    assert [report["student_stage2_by_steps"][s]["steps"] for s in ("1", "2", "4", "8")] == [1, 2, 4, 8]
    # pruned: 1 res block per level, no middle block; stage 2 adds only the guidance projection
    pruned, stage2 = report["student_pruned"]["params"], report["student_stage2"]["params"]
    assert pruned == report["student_stage1"]["params"] < stage2 < report["teacher"]["params"]
    assert stage2 - pruned == 256 * 32  # time_cond_proj: guidance embedding (256) → model channels, no bias
    # the stage-2 student samples without a CFG pass, in 4 steps instead of 10 × 2
    assert report["student_stage2"]["latency_s"] < report["teacher"]["latency_s"]

    stage2 = json.loads((out / "stage2" / "metrics.json").read_text())
    assert "reward/video_text" in stage2["metrics_logged"], stage2["metrics_logged"]
    assert (out / "stage1" / "run" / "checkpoints").is_dir() and (out / "stage2" / "run" / "checkpoints").is_dir()
    markdown = (out / "report.md").read_text()
    assert "not meaningful" in markdown.splitlines()[0]
    assert "| teacher | ddim_cfg | 10 |" in markdown and "student_stage2_4" in markdown
    with Image.open(out / "samples.gif") as grid:
        assert grid.n_frames == CLIP_FRAMES
    with Image.open(out / "loss_curves.png") as curves:
        assert curves.size[0] > 300
    assert "[evaluate] running" in log

    again = _demo(out)
    assert again.count("done already") == 10 and "[teacher] running" not in again
    assert json.loads((out / "report.json").read_text()) == report

    # another preset pointed at the finished smoke folder: one line naming the folder, nothing skipped
    other = _run_demo(out, "default")
    assert other.returncode == 2 and "Traceback" not in other.stderr, other.stderr[-3000:]
    assert str(out) in other.stderr and "smoke" in other.stderr and len(other.stderr.strip().splitlines()) == 1
    assert "done already" not in other.stdout
