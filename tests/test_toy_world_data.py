"""The toy text-video world: exact captions, motion that matches them, and real curation work."""

import numpy as np
import pandas as pd
import pytest

from hummingbird_jax.toy_world.curate import curate
from hummingbird_jax.toy_world.dataset import WorldConfig, build_world
from hummingbird_jax.toy_world.world import BACKGROUNDS, PATH_JITTER, ClipSpec, all_specs, render


def _centroid(frame, background):
    mask = np.abs(frame.astype(np.float32) - np.asarray(background, np.float32)).sum(-1) > 90
    ys, xs = np.nonzero(mask)
    return xs.mean(), ys.mean()


@pytest.mark.parametrize("motion,axis,sign", [("left", 0, -1), ("right", 0, 1), ("up", 1, -1), ("down", 1, 1)])
def test_shape_moves_the_way_its_caption_says(motion, axis, sign):
    spec = ClipSpec("square", "blue", motion, "light")
    video = render(spec, seed=3)
    first, last = _centroid(video[0], BACKGROUNDS["light"]), _centroid(video[-1], BACKGROUNDS["light"])
    assert sign * (last[axis] - first[axis]) > 8  # pixels, of 32
    assert abs(last[1 - axis] - first[1 - axis]) < 1.0
    # the path crosses the frame's centre, give or take its jitter
    middle = (np.asarray(first) + np.asarray(last)) / 2
    assert np.all(np.abs(middle - 15.5) <= PATH_JITTER * 32 + 1.0)


def test_captions_are_distinct_and_rendering_is_deterministic():
    specs = all_specs()
    assert len({s.caption for s in specs}) == len(specs) == 120
    assert specs[0].caption == "a red circle moving to the left on a dark background"
    spec = ClipSpec("triangle", "yellow", "static", "dark")
    assert np.array_equal(render(spec, seed=5), render(spec, seed=5))
    assert not np.array_equal(render(spec, seed=5), render(spec, seed=6))
    with pytest.raises(ValueError, match="unknown colour 'purple'"):
        ClipSpec("circle", "purple", "left", "dark")


def test_curation_drops_broken_files_and_dolly_zooms_and_keeps_captions(tmp_path):
    specs = [ClipSpec(s, "red", m, "dark") for s in ("circle", "square") for m in ("left", "up", "static")]
    cfg = WorldConfig(clips_per_caption=1, zoom_clips=1, dolly_zoom_clips=1, corrupt_clips=2)
    raw = build_world(tmp_path / "world", cfg, specs=specs, progress=False)
    assert len(pd.read_csv(raw)) == 6 + 1 + 1 + 2
    result = curate(raw, tmp_path / "curation", progress=False, log=lambda *_: None)
    kept = pd.read_csv(result["manifest"])
    assert result["kept"]["corrupt"] == {"raw": 2, "kept": 0}
    assert result["kept"]["dolly_zoom"] == {"raw": 1, "kept": 0}
    assert result["kept"]["shape"] == {"raw": 6, "kept": 6}
    shapes = kept[kept["kind"] == "shape"]
    assert sorted(shapes["text"]) == sorted(s.caption for s in specs)
    assert list(kept.columns[:3]) == ["path", "text", "fps"]
    # Rebuilding reuses every file and journal: same manifest.
    build_world(tmp_path / "world", cfg, specs=specs, progress=False)
    again = curate(raw, tmp_path / "curation", progress=False, log=lambda *_: None)
    assert again["summary"]["motion"]["reused"] == 8
