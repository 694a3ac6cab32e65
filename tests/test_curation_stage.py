"""The shared stage runner: resume from the journal, interruption, failures, manifests."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from hummingbird_jax.curation import (
    ManifestError,
    Stage,
    read_manifest,
    run_stage,
    write_manifest,
)
from hummingbird_jax.curation.stage import journal_path, row_keys


class WordCount(Stage):
    """A real column producer: words per caption; a caption "boom" raises."""

    name = "words"
    columns = ("words",)
    kind = "model"
    batch_size = 2
    summary_column = "words"

    def __init__(self, interrupt_after: int | None = None, tag: str = "a"):
        self.calls, self.rows_seen, self.interrupt_after, self.tag = 0, [], interrupt_after, tag

    def params(self):
        return {"tag": self.tag}

    def process(self, rows):
        self.calls += 1
        if self.interrupt_after is not None and self.calls > self.interrupt_after:
            raise KeyboardInterrupt
        self.rows_seen += [r["path"] for r in rows]
        out = []
        for row in rows:
            if row["text"] == "boom":
                raise ValueError("cannot count an explosion")
            out.append({"words": len(row["text"].split())})
        return out


def _manifest(tmp_path, n=7, name="in.csv"):
    frame = pd.DataFrame({"path": [f"v{i}.mp4" for i in range(n)], "text": [" ".join(["w"] * (i + 1)) for i in range(n)]})
    return write_manifest(frame, tmp_path / name)


def test_interrupted_run_resumes_without_redoing_rows(tmp_path):
    source, out = _manifest(tmp_path), tmp_path / "out.csv"
    with pytest.raises(KeyboardInterrupt):
        run_stage(WordCount(interrupt_after=2), source, out, progress=False)
    assert not out.exists()  # nothing half-written
    assert len(journal_path(out).read_text().splitlines()) == 1 + 4  # header + two batches of two

    stage = WordCount()
    summary = run_stage(stage, source, out, progress=False)
    assert (summary.reused, summary.processed, summary.rows_out) == (4, 3, 7)
    assert [p.rsplit("/", 1)[-1] for p in stage.rows_seen] == ["v4.mp4", "v5.mp4", "v6.mp4"]
    assert read_manifest(out)["words"].tolist() == [1, 2, 3, 4, 5, 6, 7]

    again = WordCount()
    summary = run_stage(again, source, out, progress=False)
    assert (summary.reused, summary.processed, again.calls) == (7, 0, 0)


def test_torn_last_journal_line_is_dropped_and_redone(tmp_path):
    source, out = _manifest(tmp_path, n=3), tmp_path / "out.csv"
    run_stage(WordCount(), source, out, progress=False)
    journal = journal_path(out)
    lines = journal.read_text().splitlines()
    journal.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][: len(lines[-1]) // 2])  # killed mid-write
    stage = WordCount()
    summary = run_stage(stage, source, out, progress=False)
    assert (summary.reused, summary.processed) == (2, 1)
    assert all(json.loads(line) for line in journal.read_text().splitlines())


def test_changed_settings_discard_the_journal(tmp_path):
    source, out = _manifest(tmp_path, n=3), tmp_path / "out.parquet"
    run_stage(WordCount(tag="a"), source, out, progress=False)
    messages = []
    summary = run_stage(WordCount(tag="b"), source, out, progress=False, log=messages.append)
    assert summary.processed == 3 and summary.reused == 0
    assert "other settings" in messages[0]


def test_failing_row_gets_an_error_and_the_run_completes(tmp_path):
    frame = pd.DataFrame({"path": ["a.mp4", "b.mp4", "c.mp4"], "text": ["one two", "boom", "three"]})
    out = tmp_path / "out.csv"
    summary = run_stage(WordCount(), frame, out, progress=False)
    result = read_manifest(out)
    assert result["words"].tolist()[0] == 2 and result["words"].tolist()[2] == 1
    assert result["error"][1].startswith("words_failed: ValueError: cannot count an explosion")
    assert summary.failures == {"words_failed": 1}
    assert summary.counts == {"2": 1, "1": 1}


def test_rows_with_an_earlier_error_pass_through_untouched(tmp_path):
    frame = pd.DataFrame({"path": ["a.mp4", "b.mp4"], "text": ["x", "y z"], "error": [None, "unreadable: bad header"]})
    stage = WordCount()
    summary = run_stage(stage, frame, tmp_path / "out.csv", progress=False)
    result = read_manifest(tmp_path / "out.csv")
    assert [p.rsplit("/", 1)[-1] for p in stage.rows_seen] == ["a.mp4"]
    assert result["error"][1] == "unreadable: bad header" and pd.isna(result["words"][1])
    assert summary.skipped_with_error == 1 and summary.failures == {}


def test_manifest_paths_resolve_against_the_manifest_folder(tmp_path):
    (tmp_path / "sub").mkdir()
    pd.DataFrame({"path": ["clips/a.mp4", "/abs/b.mp4"], "text": ["NA", ""], "fps": [24, 30]}).to_csv(
        tmp_path / "sub" / "m.csv", index=False
    )
    frame = read_manifest(tmp_path / "sub" / "m.csv")
    assert frame["path"].tolist() == [str(tmp_path / "sub" / "clips" / "a.mp4"), "/abs/b.mp4"]
    assert frame["text"].tolist() == ["NA", ""]  # "NA" is a caption, not a missing value


def test_bad_manifests_name_the_file_and_the_problem(tmp_path):
    pd.DataFrame({"file": ["a.mp4"], "caption": ["x"]}).to_csv(tmp_path / "m.csv", index=False)
    with pytest.raises(ManifestError, match=r"m\.csv' lacks column\(s\) \['path', 'text'\]"):
        read_manifest(tmp_path / "m.csv")
    with pytest.raises(ManifestError, match="unknown extension '.json'"):
        read_manifest(tmp_path / "m.json")
    with pytest.raises(ManifestError, match="does not exist"):
        read_manifest(tmp_path / "missing.csv")


def test_row_keys_tell_clips_and_duplicates_apart():
    frame = pd.DataFrame({"path": ["a", "a", "a", "b"], "start_frame": [0, 10, 0, 0], "end_frame": [10, 20, 10, 5]})
    assert row_keys(frame) == ["a|0|10#0", "a|10|20#0", "a|0|10#1", "b|0|5#0"]
