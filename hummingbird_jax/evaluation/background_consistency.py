"""Background consistency (VBench): OpenAI CLIP ViT-B/32 image embeddings of every frame
(``clip_transform(224)``), scored with the frame-to-first / frame-to-previous formula."""

from __future__ import annotations

from hummingbird_jax import registry
from hummingbird_jax.evaluation.backbones import openai_clip_tower
from hummingbird_jax.evaluation.consistency import consistency_dimension
from hummingbird_jax.evaluation.transforms import clip_transform

__all__ = ["WEIGHTS", "features", "load_tower", "DIMENSION"]

WEIGHTS = "ViT-B-32.pt"


def features(tower, frames):
    """Per-frame CLIP image embeddings of uint8 frames (resolution from the tower's config)."""
    return tower.features(clip_transform(frames, tower.cfg.image_size))


def load_tower(path):
    """The ViT-B/32 tower VBench scores backgrounds with, from its OpenAI ``.pt`` file."""
    return openai_clip_tower(path, registry.backbone("openai-vit-b-32"))


DIMENSION = consistency_dimension("background_consistency", WEIGHTS, load_tower, features)
