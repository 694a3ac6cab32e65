"""VBench's frame-consistency formula, shared by subject and background consistency.

For frames 1..T-1: ``(max(0, cos(f_i, f_{i-1})) + max(0, cos(f_i, f_0))) / 2`` on L2-normalised
features; a video scores the mean over those T-1 pairs, and a dimension's total is the mean over
*all pairs of all videos* (``sim / cnt`` in VBench), so each video is kept with its pair count.
"""

from __future__ import annotations

import os
from typing import Any, Callable

import numpy as np

from hummingbird_jax.evaluation.dimension import Dimension, Video

__all__ = ["frame_consistency", "pooled_mean", "consistency_dimension"]


def frame_consistency(features) -> tuple[float, int]:
    """``(score, pairs)`` of one video from its per-frame features ``(T, D)``; needs T >= 2."""
    f = np.asarray(features, np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"frame consistency needs per-frame features (T >= 2, D), got shape {f.shape}")
    f = f / np.maximum(np.linalg.norm(f, axis=-1, keepdims=True), 1e-12)
    to_previous = np.maximum(0.0, np.sum(f[1:] * f[:-1], axis=-1))
    to_first = np.maximum(0.0, f[1:] @ f[0])
    pairs = (to_previous + to_first) / 2
    return float(pairs.mean()), int(pairs.size)


def pooled_mean(results: list[tuple[float, int]]) -> float:
    """Total over videos weighted by their pair counts (VBench's ``sim / cnt``)."""
    total = sum(score * n for score, n in results)
    count = sum(n for _, n in results)
    return total / count


def consistency_dimension(name: str, weights: str, load_tower: Callable[[str], Any],
                          features: Callable[[Any, np.ndarray], Any]) -> Dimension:
    """A frame-consistency dimension: ``load_tower(path of weights)`` once, then per video
    ``features(tower, uint8 frames) -> (T, D)`` scored with :func:`frame_consistency` and pooled over pairs."""

    def score(tower, video: Video) -> dict:
        value, pairs = frame_consistency(features(tower, video.frames))
        return {"score": value, "pairs": pairs}

    return Dimension(
        name=name,
        needs=(weights,),
        load=lambda weights_dir: load_tower(os.path.join(weights_dir, weights)),
        score=score,
        aggregate=lambda results: pooled_mean([(r["score"], r["pairs"]) for r in results]),
    )
