"""The toy world on disk: real H.264 clips plus a ``path,text,fps,…`` manifest, ready for curation.

Besides the captioned shape clips, the raw pile holds what a scraped dataset would: camera zooms and
dolly zooms over textured scenes (rendered by ``hummingbird_jax.curation.motion_clips``; the motion stage must find
the dolly zooms) and broken files (empty, truncated) the ingest stage must reject. Files that already
exist are kept, so an interrupted build resumes; the manifest is written last, atomically.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from hummingbird_jax.curation.motion_clips import render_clip, write_video
from hummingbird_jax.curation.tables import write_manifest
from hummingbird_jax.toy_world.world import (
    LABEL_COLUMNS,
    ClipShape,
    ClipSpec,
    all_specs,
    render,
)

CAMERA_CAPTIONS = {"zoom_in": "a camera zooming into a colourful textured scene",
                   "dolly_zoom": "a dolly zoom towards a subject in a colourful textured scene"}


@dataclasses.dataclass(frozen=True)
class WorldConfig(ClipShape):
    fps: int = 8
    clips_per_caption: int = 2
    zoom_clips: int = 2
    dolly_zoom_clips: int = 3
    corrupt_clips: int = 2
    camera_size: tuple[int, int] = (96, 96)  # the camera clips are rendered large enough to measure flow
    seed: int = 0


def _atomic_video(path: Path, frames: np.ndarray, fps: int) -> None:
    if path.exists():
        return
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    write_video(tmp, frames, fps=fps)
    tmp.replace(path)


def build_world(out_dir, cfg: WorldConfig = WorldConfig(), specs: list[ClipSpec] | None = None,
                progress: bool = True) -> Path:
    """Writes ``out_dir/videos/*.mp4`` and ``out_dir/raw.csv``; returns the manifest path."""
    from tqdm.auto import tqdm

    out_dir = Path(out_dir)
    videos = out_dir / "videos"
    videos.mkdir(parents=True, exist_ok=True)
    specs = all_specs() if specs is None else specs
    rows = []
    jobs = [(spec, k) for k in range(cfg.clips_per_caption) for spec in specs]
    for index, (spec, k) in enumerate(tqdm(jobs, desc="toy world", unit="clip", disable=not progress)):
        path = videos / f"shape_{index:05d}.mp4"
        _atomic_video(path, render(spec, size=cfg.size, frames=cfg.frames, seed=cfg.seed * 1_000_003 + index), cfg.fps)
        rows.append({"path": str(path), "text": spec.caption, "fps": cfg.fps, **spec.labels(), "kind": "shape"})
    camera = [("zoom_in", i) for i in range(cfg.zoom_clips)] + [("dolly_zoom", i) for i in range(cfg.dolly_zoom_clips)]
    for label, i in camera:
        path = videos / f"{label}_{i:03d}.mp4"
        frames = render_clip(label, size=cfg.camera_size, frames=max(cfg.frames, 16), speed=1.5, seed=cfg.seed + 97 * i)
        _atomic_video(path, frames, cfg.fps)
        rows.append({"path": str(path), "text": CAMERA_CAPTIONS[label], "fps": cfg.fps, "kind": label})
    for i in range(cfg.corrupt_clips):
        path = videos / f"corrupt_{i:03d}.mp4"
        if not path.exists():
            if i % 2 == 0:
                path.write_bytes(b"")  # an empty download
            else:  # a truncated download: the first bytes of a real file
                good = videos / f"shape_{0:05d}.mp4"
                path.write_bytes(good.read_bytes()[: max(64, good.stat().st_size // 3)])
        rows.append({"path": str(path), "text": "a broken download", "fps": cfg.fps, "kind": "corrupt"})
    table = pd.DataFrame(rows, columns=["path", "text", "fps", *LABEL_COLUMNS, "kind"])
    return write_manifest(table, out_dir / "raw.csv")
