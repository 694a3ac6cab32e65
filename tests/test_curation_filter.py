"""Filter: config thresholds -> training manifest, removal counts per reason, histograms."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from hummingbird_jax.cli import main
from hummingbird_jax.curation import FilterConfigError, read_manifest, run_filter

CONFIG = """
drop_errors: true
rules:
  duration: {min: 2.0}
  motion_magnitude: {min: 0.001, max: 0.05}
  camera_motion: {exclude: [dolly_zoom]}
  text: {required: true}
  dover_overall: {min: 0.5, if_present: true}
"""


@pytest.fixture()
def scored(tmp_path):
    frame = pd.DataFrame({
        "path": [f"v{i}.mp4" for i in range(7)],
        "text": ["a", "b", "", "d", "e", "f", "g"],
        "fps": [24.0, 24.0, 30.0, 25.0, 24.0, None, 24.0],
        "duration": [3.0, 1.0, 5.0, 4.0, 6.0, None, 2.0],
        "motion_magnitude": [0.01, 0.01, 0.01, 0.2, 0.02, None, 0.0005],
        "camera_motion": ["pan", "static", "pan", "zoom_in", "dolly_zoom", None, "static"],
        "error": [None, None, None, None, None, "unreadable: bad", None],
    })
    frame.to_csv(tmp_path / "scored.csv", index=False)
    (tmp_path / "filter.yaml").write_text(CONFIG)
    return tmp_path


def test_filter_keeps_rows_passing_every_rule_and_counts_the_rest(scored):
    report = run_filter(scored / "scored.csv", scored / "train.csv", scored / "filter.yaml")
    kept = read_manifest(scored / "train.csv")
    assert kept["path"].tolist() == [str(scored / "v0.mp4")]  # absolute paths
    assert list(kept.columns[:3]) == ["path", "text", "fps"] and "error" not in kept.columns
    assert report["removed"] == {"error:unreadable": 1, "duration<2.0": 1, "text missing": 1,
                                 "motion_magnitude>0.05": 1, "camera_motion in ['dolly_zoom']": 1,
                                 "motion_magnitude<0.001": 1}
    assert report["failing"]["duration<2.0"] == 2  # v1 and the errored v5 (no duration)
    assert (report["rows_in"], report["rows_out"]) == (7, 1)


def test_report_has_markdown_json_and_png_histograms(scored):
    run_filter(scored / "scored.csv", scored / "train.parquet", scored / "filter.yaml", scored / "report")
    report = json.loads((scored / "report" / "report.json").read_text())
    assert set(report["histograms"]) == {"fps", "duration", "motion_magnitude", "camera_motion"}
    for name in report["histograms"].values():
        assert (scored / "report" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    markdown = (scored / "report" / "report.md").read_text()
    assert "| `camera_motion in ['dolly_zoom']` | 1 | 1 |" in markdown
    assert "rows in: 7, rows out: 1" in markdown


def test_rules_on_absent_columns_and_malformed_configs_are_rejected(scored):
    (scored / "bad.yaml").write_text("rules:\n  dover_overall: {min: 0.5}\n")
    with pytest.raises(FilterConfigError, match="column 'dover_overall', which manifest .* lacks"):
        run_filter(scored / "scored.csv", scored / "o.csv", scored / "bad.yaml")
    (scored / "bad.yaml").write_text("rules:\n  duration: {minimum: 2}\n")
    with pytest.raises(FilterConfigError, match="rule for column 'duration' must be a mapping with keys from"):
        run_filter(scored / "scored.csv", scored / "o.csv", scored / "bad.yaml")
    (scored / "bad.yaml").write_text("rules:\n  duration: {min: two}\n")
    with pytest.raises(FilterConfigError, match="'duration.min' must be a number"):
        run_filter(scored / "scored.csv", scored / "o.csv", scored / "bad.yaml")


def test_cli_filter_default_config_and_error_exit(scored, capsys):
    assert main(["data", "filter", str(scored / "scored.csv"), "--out", str(scored / "t.csv")]) in (0, None)
    assert "removed: " in capsys.readouterr().out
    kept = read_manifest(scored / "t.csv")
    assert "dolly_zoom" not in kept["camera_motion"].tolist() and len(kept) == 4  # errors, dolly, empty text
    (scored / "bad.yaml").write_text("rules: [1, 2]\n")
    assert main(["data", "filter", str(scored / "scored.csv"), "--out", str(scored / "t.csv"),
                 "--config", str(scored / "bad.yaml")]) == 2
    assert "'rules' must map column names to rules" in capsys.readouterr().err
