"""Toy clips as arrays: decoded from a curated manifest, or rendered in memory, with integer labels."""

from __future__ import annotations

import numpy as np

from hummingbird_jax.data.decode import read_clip
from hummingbird_jax.toy_world.world import BACKGROUNDS, COLOURS, MOTIONS, SHAPES, ClipSpec, render

# Classes of each label, in the index order the classifier heads use.
LABEL_CLASSES = {"shape": SHAPES, "colour": tuple(COLOURS), "motion": MOTIONS, "background": tuple(BACKGROUNDS)}


def label_indices(specs: list[ClipSpec]) -> dict[str, np.ndarray]:
    return {name: np.array([classes.index(getattr(s, name)) for s in specs], np.int32)
            for name, classes in LABEL_CLASSES.items()}


def to_unit_range(frames_uint8: np.ndarray) -> np.ndarray:
    return frames_uint8.astype(np.float32) / 127.5 - 1.0


def to_uint8(video: np.ndarray) -> np.ndarray:
    """Values in [-1, 1] as the uint8 pixels a video file would hold (the inverse of :func:`to_unit_range`)."""
    return np.round((np.clip(video, -1.0, 1.0) + 1.0) * 127.5).astype(np.uint8)


def rendered_clips(specs: list[ClipSpec], *, size, frames: int, seed: int) -> np.ndarray:
    """``(N, T, H, W, 3)`` in [-1, 1], clip ``i`` rendered with seed ``seed + i``."""
    return np.stack([to_unit_range(render(s, size=size, frames=frames, seed=seed + i)) for i, s in enumerate(specs)])


def manifest_clips(table, *, size, frames: int) -> tuple[np.ndarray, list[str], list[ClipSpec | None]]:
    """Decodes every clip of a curated manifest → ``(videos in [-1, 1], captions, specs)``; ``spec`` is
    None for rows that are not shape clips (camera clips that survived curation)."""
    videos, captions, specs = [], [], []
    for row in table.to_dict("records"):
        clip = read_clip(row["path"], frames=frames, size=tuple(size))
        videos.append(to_unit_range(clip.frames))
        captions.append(str(row["text"]))
        shape_clip = row.get("kind") == "shape"
        specs.append(ClipSpec(row["shape"], row["colour"], row["motion"], row["background"]) if shape_clip else None)
    return np.stack(videos), captions, specs
