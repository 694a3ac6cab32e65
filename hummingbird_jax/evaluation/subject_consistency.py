"""Subject consistency (VBench): DINO ViT-B/16 class-token features of every frame (short side
resized to 224, bilinear), scored with the frame-to-first / frame-to-previous formula."""

from __future__ import annotations

from hummingbird_jax.evaluation.backbones import dino_tower
from hummingbird_jax.evaluation.consistency import consistency_dimension
from hummingbird_jax.evaluation.transforms import dino_transform

__all__ = ["WEIGHTS", "features", "DIMENSION"]

WEIGHTS = "dino_vitb16.pth"


def features(tower, frames):
    """Per-frame DINO features ``(T, 768)`` of uint8 frames."""
    return tower.features(dino_transform(frames), batch=8)


DIMENSION = consistency_dimension("subject_consistency", WEIGHTS, dino_tower, features)
