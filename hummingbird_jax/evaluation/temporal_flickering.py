"""Temporal flickering (VBench): ``(255 - mean over consecutive frame pairs of the mean absolute
pixel difference) / 255``, on every decoded frame. Needs no model; a static video scores 1."""

from __future__ import annotations

import numpy as np

from hummingbird_jax.evaluation.dimension import Dimension

__all__ = ["NEEDS", "temporal_flickering", "DIMENSION"]

NEEDS: tuple[str, ...] = ()


def temporal_flickering(frames) -> float:
    """Score of one video from its uint8 frames ``(T, H, W, 3)`` (any channel order)."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[0] < 2:
        raise ValueError(f"temporal flickering needs at least 2 frames (T, H, W, C), got shape {frames.shape}")
    x = frames.astype(np.float32)
    per_pair = np.abs(x[1:] - x[:-1]).reshape(len(x) - 1, -1).mean(axis=1, dtype=np.float64)
    return (255.0 - float(per_pair.mean())) / 255.0


def _score(_state, video) -> dict:
    return {"score": temporal_flickering(video.frames)}


DIMENSION = Dimension(name="temporal_flickering", needs=NEEDS, load=lambda _weights_dir: None, score=_score)
