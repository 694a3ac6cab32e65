"""The image towers VBench scores with, loaded from the user's weight files and jitted once.

DINO ViT-B/16 (subject consistency), OpenAI CLIP ViT-B/32 (background consistency) and ViT-L/14
(aesthetic quality) are all :class:`~hummingbird_jax.models.clip.CLIPVisionEncoder` s with their
configs; conversion is :mod:`hummingbird_jax.convert.clip`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from hummingbird_jax import registry
from hummingbird_jax.convert.checkpoint_io import load_torch_checkpoint
from hummingbird_jax.convert.clip import load_dino, load_openai_clip_visual
from hummingbird_jax.models.clip import CLIPVisionConfig, CLIPVisionEncoder

__all__ = ["ImageTower", "dino_tower", "openai_clip_tower", "load_linear_head"]


@dataclasses.dataclass
class ImageTower:
    """A converted image tower: ``features(images NHWC normalised) -> (B, D)`` float32."""

    cfg: CLIPVisionConfig
    params: Any
    embed_dim: Any = None

    def __post_init__(self):
        model = CLIPVisionEncoder(self.cfg, self.embed_dim)
        self._apply = jax.jit(lambda p, x: model.apply({"params": p}, x))

    def features(self, images, batch: int = 32) -> np.ndarray:
        images = jnp.asarray(images, jnp.float32)
        return np.concatenate(
            [np.asarray(self._apply(self.params, images[i:i + batch])) for i in range(0, len(images), batch)]
        )


def dino_tower(path: str, cfg: CLIPVisionConfig | None = None) -> ImageTower:
    cfg = cfg or registry.backbone("dino-vit-b-16")
    return ImageTower(cfg, load_dino(path, cfg))


def openai_clip_tower(path: str, cfg: CLIPVisionConfig) -> ImageTower:
    params = load_openai_clip_visual(path, cfg)
    return ImageTower(cfg, params, int(params["proj"].shape[1]))


def load_linear_head(path: str) -> tuple[np.ndarray, np.ndarray]:
    """``nn.Linear(D, 1)`` state dict (the LAION aesthetic predictor) -> ``(w (D,), b ())``."""
    state = load_torch_checkpoint(path)
    weight, bias = state.get("weight"), state.get("bias")
    if weight is None or bias is None or np.ndim(weight) != 2 or np.shape(weight)[0] != 1:
        raise ValueError(f"{path}: expected an nn.Linear(D, 1) state dict with 'weight' (1, D) and 'bias' (1,), "
                         f"got keys {sorted(state)[:6]}")
    return np.asarray(weight, np.float32)[0], np.asarray(bias, np.float32).reshape(())
