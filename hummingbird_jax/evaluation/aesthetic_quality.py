"""Aesthetic quality (VBench): the LAION aesthetic predictor (a linear head on L2-normalised OpenAI
CLIP ViT-L/14 image embeddings) on every frame, divided by 10 and averaged over the frames."""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from hummingbird_jax import registry
from hummingbird_jax.evaluation.backbones import ImageTower, load_linear_head, openai_clip_tower
from hummingbird_jax.evaluation.dimension import Dimension, Video
from hummingbird_jax.evaluation.transforms import clip_transform

__all__ = ["WEIGHTS", "HEAD_WEIGHTS", "AestheticModel", "aesthetic_from_features", "score", "DIMENSION"]

WEIGHTS = "ViT-L-14.pt"
HEAD_WEIGHTS = "sa_0_4_vit_l_14_linear.pth"


@dataclasses.dataclass
class AestheticModel:
    tower: ImageTower
    head_weight: np.ndarray  # (D,)
    head_bias: np.ndarray  # ()


def aesthetic_from_features(features, head_weight, head_bias) -> float:
    """VBench's per-video score: mean over frames of ``head(normalise(f)) / 10``."""
    f = np.asarray(features, np.float32)
    f = f / np.maximum(np.linalg.norm(f, axis=-1, keepdims=True), 1e-12)
    return float(np.mean((f @ head_weight + head_bias) / 10))


def score(model: AestheticModel, video: Video) -> dict:
    features = model.tower.features(clip_transform(video.frames, model.tower.cfg.image_size))
    return {"score": aesthetic_from_features(features, model.head_weight, model.head_bias)}


def _load(weights_dir: str) -> AestheticModel:
    tower = openai_clip_tower(os.path.join(weights_dir, WEIGHTS), registry.backbone("openai-vit-l-14"))
    weight, bias = load_linear_head(os.path.join(weights_dir, HEAD_WEIGHTS))
    if weight.shape[0] != tower.embed_dim:
        raise ValueError(f"{HEAD_WEIGHTS}: head takes {weight.shape[0]} features, {WEIGHTS} gives {tower.embed_dim}")
    return AestheticModel(tower, weight, bias)


DIMENSION = Dimension(name="aesthetic_quality", needs=(WEIGHTS, HEAD_WEIGHTS), load=_load, score=score)
