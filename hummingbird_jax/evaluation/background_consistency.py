"""Background consistency (VBench): OpenAI CLIP ViT-B/32 image embeddings of every frame
(``clip_transform(224)``), scored with the frame-to-first / frame-to-previous formula."""

from __future__ import annotations

import os

from hummingbird_jax import registry
from hummingbird_jax.evaluation.backbones import openai_clip_tower
from hummingbird_jax.evaluation.consistency import frame_consistency, pooled_mean
from hummingbird_jax.evaluation.dimension import Dimension, Video
from hummingbird_jax.evaluation.transforms import clip_transform

__all__ = ["WEIGHTS", "features", "score", "DIMENSION"]

WEIGHTS = "ViT-B-32.pt"


def features(tower, frames):
    """Per-frame CLIP image embeddings of uint8 frames (resolution from the tower's config)."""
    return tower.features(clip_transform(frames, tower.cfg.image_size))


def score(tower, video: Video) -> dict:
    value, pairs = frame_consistency(features(tower, video.frames))
    return {"score": value, "pairs": pairs}


DIMENSION = Dimension(
    name="background_consistency",
    needs=(WEIGHTS,),
    load=lambda weights_dir: openai_clip_tower(os.path.join(weights_dir, WEIGHTS), registry.backbone("openai-vit-b-32")),
    score=score,
    aggregate=lambda results: pooled_mean([(r["score"], r["pairs"]) for r in results]),
)
