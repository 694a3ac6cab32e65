"""Subject consistency (VBench): DINO ViT-B/16 class-token features of every frame (short side
resized to 224, bilinear), scored with the frame-to-first / frame-to-previous formula."""

from __future__ import annotations

import os

from hummingbird_jax.evaluation.backbones import dino_tower
from hummingbird_jax.evaluation.consistency import frame_consistency, pooled_mean
from hummingbird_jax.evaluation.dimension import Dimension, Video
from hummingbird_jax.evaluation.transforms import dino_transform

__all__ = ["WEIGHTS", "features", "score", "DIMENSION"]

WEIGHTS = "dino_vitb16.pth"


def features(tower, frames):
    """Per-frame DINO features ``(T, 768)`` of uint8 frames."""
    return tower.features(dino_transform(frames), batch=8)


def score(tower, video: Video) -> dict:
    value, pairs = frame_consistency(features(tower, video.frames))
    return {"score": value, "pairs": pairs}


DIMENSION = Dimension(
    name="subject_consistency",
    needs=(WEIGHTS,),
    load=lambda weights_dir: dino_tower(os.path.join(weights_dir, WEIGHTS)),
    score=score,
    aggregate=lambda results: pooled_mean([(r["score"], r["pairs"]) for r in results]),
)
