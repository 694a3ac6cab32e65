"""HPSv2.1 image reward: OpenCLIP ViT-H-14 fine-tuned on human preferences, scored per frame.

The score of a frame is the cosine between its normalised image embedding and the prompt's normalised
text embedding (HPSv2 multiplies by no logit scale); a video's score is the mean over its frames.
Preprocessing reproduces HPSv2's evaluation transform differentiably: resize so the longest side is
224 (bicubic, antialiased like PIL when shrinking), pad the short side with black to a centred
224×224 square, then the OpenAI CLIP mean/std. A 320×512 frame becomes 140×224 plus 42 rows of
padding above and below.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from hummingbird_jax.convert.clip import load_clip
from hummingbird_jax.models.clip import CLIP, CLIPConfig, normalize_features
from hummingbird_jax.pixel_stats import CLIP_MEAN, CLIP_STD
from hummingbird_jax.rewards.base import RewardModel, check_frames
from hummingbird_jax.text import tokenize

__all__ = ["CLIP_MEAN", "CLIP_STD", "letterbox", "clip_preprocess", "HPSv2Reward"]


def letterbox(images: jax.Array, size: int) -> jax.Array:
    """``(N, H, W, C)`` -> ``(N, size, size, C)``: longest side to ``size`` (bicubic), centred zero padding.

    Matches open_clip's ``ResizeMaxSize``: the new sides are ``round(side · size / max(H, W))`` and the
    padding is split with the smaller half before (left/top).
    """
    n, h, w, c = images.shape
    scale = size / max(h, w)
    new_h, new_w = round(h * scale), round(w * scale)
    if (new_h, new_w) != (h, w):
        images = jax.image.resize(images, (n, new_h, new_w, c), method="bicubic", antialias=True)
    pad_h, pad_w = size - new_h, size - new_w
    return jnp.pad(images, ((0, 0), (pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0)))


def clip_preprocess(images: jax.Array, size: int) -> jax.Array:
    """RGB in [0, 1] ``(N, H, W, 3)`` -> CLIP input ``(N, size, size, 3)``, letterboxed and normalised."""
    x = letterbox(images.astype(jnp.float32), size)
    return (x - jnp.asarray(CLIP_MEAN)) / jnp.asarray(CLIP_STD)


@dataclasses.dataclass(frozen=True)
class HPSv2Reward(RewardModel):
    """HPSv2.1 (``HPS_v2.1_compressed.pt``) as a :class:`RewardModel`; ``config`` defaults to ViT-H-14."""

    config: CLIPConfig = dataclasses.field(default_factory=CLIPConfig.vit_h_14)
    dtype: Any = jnp.float32
    attention_impl: str = "auto"
    # Encode frames one at a time under jax.checkpoint: the backward pass then holds one frame's
    # ViT activations instead of all K (it recomputes each frame's forward once).
    remat: bool = False
    name: str = "hpsv2.1"

    @property
    def model(self) -> CLIP:
        return CLIP(self.config, dtype=self.dtype, attention_impl=self.attention_impl)

    def tokenize(self, prompts: Sequence[str]) -> np.ndarray:
        return tokenize(list(prompts), self.config.text.context_length)

    def init_params(self, rng: jax.Array) -> Any:
        size = self.config.vision.image_size
        images = jnp.zeros((1, size, size, 3), jnp.float32)
        tokens = jnp.zeros((1, self.config.text.context_length), jnp.int32)
        return jax.jit(lambda key: self.model.init(key, images, tokens)["params"])(rng)

    def load_params(self, path: str) -> Any:
        """Weights from HPSv2.1's ``{'state_dict': …}`` file (or any open_clip ViT-H-14 state dict)."""
        return load_clip(path, self.config)

    def text_features(self, params: Any, text_tokens: jax.Array) -> jax.Array:
        """Normalised text embeddings ``(batch, embed_dim)``; constant per prompt, so callers may cache."""
        return normalize_features(self.model.apply({"params": params}, text_tokens, method=CLIP.encode_text))

    def image_features(self, params: Any, images: jax.Array) -> jax.Array:
        """Normalised image embeddings of RGB ``(N, H, W, 3)`` in [0, 1], preprocessed as HPSv2 does."""
        x = clip_preprocess(images, self.config.vision.image_size)

        def encode(p, batch):
            return self.model.apply({"params": p}, batch, method=CLIP.encode_image)

        if self.remat:
            one = jax.checkpoint(lambda p, image: encode(p, image[None])[0])
            return normalize_features(jax.lax.map(lambda image: one(params, image), x))
        return normalize_features(encode(params, x))

    def frame_scores(self, params: Any, frames: jax.Array, text_tokens: jax.Array) -> jax.Array:
        """Cosine score of every frame with its video's prompt, ``(batch, frames)``."""
        check_frames(frames, text_tokens)
        b, k = frames.shape[:2]
        image = self.image_features(params, frames.reshape(b * k, *frames.shape[2:])).reshape(b, k, -1)
        text = self.text_features(params, text_tokens)
        return jnp.einsum("bke,be->bk", image, text)

    def score(self, params: Any, frames: jax.Array, text_tokens: jax.Array) -> jax.Array:
        return jnp.mean(self.frame_scores(params, frames, text_tokens), axis=1)
