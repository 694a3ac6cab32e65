"""ViCLIP-L video-text reward (T2V-Turbo's ``vi_clip``): cosine of a video's and its prompt's features.

Preprocessing reproduces ``get_vi_clip_score_fn`` differentiably. Each frame (RGB in [0, 1]) is resized
so its short side is 224 (bicubic with antialiasing, as torchvision resizes tensors; new sides
``round(side · 224 / short side)``), cut to a 224×224 square and normalised with the ImageNet mean/std.
The release cuts at one random offset shared by the whole batch (``RandomCrop``); :func:`preprocess`
takes that offset, :meth:`ViCLIPReward.score` draws it from ``crop_key`` and otherwise cuts the centre.
(The release skips the cut when the short side is already 224; it then only runs on square frames,
where both agree.) Prompts use the OpenCLIP BPE at ViCLIP's 32-token context; token rows of any other
length (the engine's 77-token prompts) are refitted as if tokenized at 32.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from hummingbird_jax.convert.viclip import load_viclip, param_shapes, params_from_torch
from hummingbird_jax.models.clip import normalize_features
from hummingbird_jax.models.viclip import ViCLIP, ViCLIPConfig, fit_context
from hummingbird_jax.pixel_stats import IMAGENET_MEAN, IMAGENET_STD
from hummingbird_jax.rewards.base import RewardModel, check_frames
from hummingbird_jax.text import EOT_TOKEN, tokenize

__all__ = [
    "VICLIP_MEAN",
    "VICLIP_STD",
    "ViCLIPConfig",
    "ViCLIPReward",
    "params_from_torch",
    "preprocess",
    "random_crop_offset",
    "resize_short_side",
    "text_features",
    "video_features",
]

VICLIP_MEAN, VICLIP_STD = IMAGENET_MEAN, IMAGENET_STD  # ViCLIP normalises with ImageNet's statistics


def resize_short_side(images: jax.Array, size: int) -> jax.Array:
    """``(N, H, W, C)`` -> short side ``size``, bicubic, antialiased (torchvision's tensor ``resize``)."""
    n, h, w, c = images.shape
    scale = size / min(h, w)
    new_h, new_w = round(h * scale), round(w * scale)
    if (new_h, new_w) == (h, w):
        return images
    return jax.image.resize(images, (n, new_h, new_w, c), method="bicubic", antialias=True)


def preprocess(frames: jax.Array, size: int, offset: Optional[jax.Array] = None) -> jax.Array:
    """RGB in [0, 1] ``(B, T, H, W, 3)`` -> normalised ``(B, T, size, size, 3)``.

    ``offset`` is the crop's ``(top, left)`` in the resized frames (an int array, may be traced); ``None``
    cuts the centre as torchvision's ``CenterCrop`` does.
    """
    b, t = frames.shape[:2]
    x = resize_short_side(frames.reshape(b * t, *frames.shape[2:]).astype(jnp.float32), size)
    h, w = x.shape[1:3]
    if offset is None:
        offset = jnp.asarray([int(round((h - size) / 2.0)), int(round((w - size) / 2.0))])
    x = jax.lax.dynamic_slice(x, (0, offset[0], offset[1], 0), (b * t, size, size, 3))
    x = (x - jnp.asarray(VICLIP_MEAN)) / jnp.asarray(VICLIP_STD)
    return x.reshape(b, t, size, size, 3)


def random_crop_offset(key: jax.Array, height: int, width: int, size: int) -> jax.Array:
    """``RandomCrop``'s draw: top in ``[0, height - size]``, left in ``[0, width - size]``, uniform."""
    return jax.random.randint(key, (2,), 0, jnp.asarray([height - size + 1, width - size + 1]))


def video_features(params: Any, cfg: ViCLIPConfig, frames: jax.Array, *, dtype=jnp.float32,
                   attention_impl: str = "auto", remat: bool = False) -> jax.Array:
    """Unit-norm video features ``(B, embed_dim)`` of frames ``(B, T, H, W, 3)`` already resized and
    normalised (the official ``get_vid_feat_with_grad`` on the same frames as ``(B, T, 3, H, W)``)."""
    model = ViCLIP(cfg, dtype=dtype, attention_impl=attention_impl, remat=remat)
    return normalize_features(model.apply({"params": params}, frames, method=ViCLIP.encode_vision))


def text_features(params: Any, cfg: ViCLIPConfig, tokens: jax.Array, *, dtype=jnp.float32,
                  attention_impl: str = "auto") -> jax.Array:
    """Unit-norm text features ``(B, embed_dim)`` of OpenCLIP token rows (refitted to the 32-token context)."""
    model = ViCLIP(cfg, dtype=dtype, attention_impl=attention_impl)
    tokens = fit_context(jnp.asarray(tokens), cfg.context_length, EOT_TOKEN)
    return normalize_features(model.apply({"params": params}, tokens, method=ViCLIP.encode_text))


@dataclasses.dataclass(frozen=True)
class ViCLIPReward(RewardModel):
    """ViCLIP-L as a :class:`RewardModel`: ``score`` is the cosine of each video (``num_frames`` ×
    ``kernel_size`` frames, 8 for ViCLIP-L) with its prompt. ``remat`` recomputes each transformer
    block in the backward pass (the 2,049-token sequence of 8 frames dominates memory)."""

    config: ViCLIPConfig = dataclasses.field(default_factory=ViCLIPConfig.vit_l14)
    dtype: Any = jnp.float32
    attention_impl: str = "auto"
    remat: bool = False
    name: str = "viclip"
    # Training hands ``score`` this reward's own 32-token rows: exact whatever the run's text context
    # (a 16-token context would already have cut longer prompts; 77-token rows would refit exactly).
    tokenizes_text = True

    def tokenize(self, prompts: Sequence[str]) -> np.ndarray:
        return tokenize(list(prompts), self.config.context_length)

    def init_params(self, rng: jax.Array) -> Any:
        cfg = self.config
        frames = jnp.zeros((1, cfg.input_frames, cfg.input_resolution, cfg.input_resolution, 3), jnp.float32)
        tokens = jnp.zeros((1, cfg.context_length), jnp.int32)
        return jax.jit(lambda key: ViCLIP(cfg).init(key, frames, tokens)["params"])(rng)

    def params_shapes(self) -> Any:
        return param_shapes(self.config)

    def load_params(self, path: str) -> Any:
        """Weights from ``ViClip-InternVid-10M-FLT.pth`` (or a state dict with the official names)."""
        return load_viclip(path, self.config)

    def preprocess(self, frames: jax.Array, crop_key: Optional[jax.Array] = None) -> jax.Array:
        size = self.config.input_resolution
        offset = None
        if crop_key is not None:
            h, w = frames.shape[2:4]
            scale = size / min(h, w)
            offset = random_crop_offset(crop_key, round(h * scale), round(w * scale), size)
        return preprocess(frames, size, offset)

    def score(self, params: Any, frames: jax.Array, text_tokens: jax.Array,
              crop_key: Optional[jax.Array] = None) -> jax.Array:
        """Cosine ``(batch,)`` of each video with its prompt; ``crop_key`` draws the release's random crop."""
        check_frames(frames, text_tokens)
        video = video_features(params, self.config, self.preprocess(frames, crop_key), dtype=self.dtype,
                               attention_impl=self.attention_impl, remat=self.remat)
        text = text_features(params, self.config, text_tokens, dtype=self.dtype, attention_impl=self.attention_impl)
        return jnp.sum(video * text, axis=-1)
