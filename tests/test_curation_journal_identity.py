"""A curation journal remembers a row by path and file identity: a video replaced after a run is
processed again instead of being reported with the old file's result."""

from __future__ import annotations

import os

import numpy as np

from hummingbird_jax import video_io
from hummingbird_jax.curation import ingest, read_manifest


def test_a_replaced_video_is_probed_again(tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    good = np.random.default_rng(0).integers(0, 255, (8, 32, 32, 3), dtype=np.uint8)
    video_io.write_mp4(videos / "a.mp4", good, fps=8)
    (videos / "b.mp4").write_bytes(b"")  # a failed download
    out = tmp_path / "ingest.csv"
    ingest(str(videos), out, workers=1, progress=False)
    first = read_manifest(out).set_index("path")
    assert str(first.loc[str(videos / "b.mp4"), "error"]).startswith("empty")

    video_io.write_mp4(videos / "b.mp4", good, fps=8)  # downloaded again
    os.utime(videos / "b.mp4", ns=(1, 1))  # even with an older timestamp: the size differs
    summary = ingest(str(videos), out, workers=1, progress=False)
    again = read_manifest(out).set_index("path")
    assert (summary.reused, summary.processed) == (1, 1)
    assert not isinstance(again.loc[str(videos / "b.mp4"), "error"], str)
    assert int(again.loc[str(videos / "b.mp4"), "frames"]) == 8
