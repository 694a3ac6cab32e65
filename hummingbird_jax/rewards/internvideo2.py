"""InternVideo2-Stage2 video-text reward (T2V-Turbo's ``vi_clip2``, weight 2.0 in the release).

The score of a video is the cosine between its InternVideo2 video feature and its prompt's text
feature. Frames are prepared as the release's reward function does, differentiably: the short side
resized to 224 (bicubic, antialiased like torchvision on tensors), one 224×224 crop for the whole
batch (random in training: pass ``crop_key``; centred without), then ImageNet mean/std. Prompts are BERT
WordPiece ids (uncased, 40 tokens); the attention mask is every non-``[PAD]`` position.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from hummingbird_jax.convert.internvideo2 import load_internvideo2, params_from_torch
from hummingbird_jax.models.internvideo2 import (
    InternVideo2Config,
    init_params,
    param_shapes,
    text_features,
    video_features,
)
from hummingbird_jax.pixel_stats import IMAGENET_MEAN, IMAGENET_STD  # reward_fn.ViCLIP_NORMALIZE
from hummingbird_jax.rewards.base import RewardModel, check_frames
from hummingbird_jax.text.wordpiece import WordPieceTokenizer, character_vocabulary

__all__ = [
    "InternVideo2Config",
    "params_from_torch",
    "video_features",
    "text_features",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "resize_crop_min_size",
    "InternVideo2Reward",
]

PAD_ID = 0  # [PAD] in BERT's vocabulary (and in character_vocabulary)


def resize_crop_min_size(frames: jax.Array, size: int, offset: Optional[tuple] = None) -> jax.Array:
    """``ResizeCropMinSize(size)`` on ``(N, H, W, C)``: short side to ``size`` (bicubic, antialiased when
    shrinking; the long side ``round(side · size / short)``), then the ``size``² window at ``offset``
    ``(top, left)`` (traced values allowed), centred when ``offset`` is None. Frames whose short side is
    already ``size`` are returned as they are, as the original does."""
    n, h, w, c = frames.shape
    scale = size / min(h, w)
    if scale == 1.0:
        return frames
    new_h, new_w = round(h * scale), round(w * scale)
    frames = jax.image.resize(frames, (n, new_h, new_w, c), method="bicubic", antialias=True)
    if offset is None:
        offset = ((new_h - size) // 2, (new_w - size) // 2)
    top, left = offset
    return jax.lax.dynamic_slice(frames, (0, top, left, 0), (n, size, size, c))


def random_crop_offset(rng: jax.Array, frames_shape: tuple, size: int) -> tuple:
    """A uniform ``(top, left)`` for :func:`resize_crop_min_size` (``RandomCrop`` after the resize)."""
    _, h, w, _ = frames_shape
    scale = size / min(h, w)
    new_h, new_w = round(h * scale), round(w * scale)
    k_top, k_left = jax.random.split(rng)
    return (jax.random.randint(k_top, (), 0, new_h - size + 1), jax.random.randint(k_left, (), 0, new_w - size + 1))


@dataclasses.dataclass(frozen=True)
class InternVideo2Reward(RewardModel):
    """InternVideo2-Stage2 as a :class:`RewardModel` (default: the 1B model at 8 frames).

    ``vocab`` is BERT's ``vocab.txt`` (``bert-large-uncased``); empty means the built-in character
    vocabulary, which only fits random-weight models. ``remat`` recomputes each vision block in the
    backward pass.
    """

    config: InternVideo2Config = dataclasses.field(default_factory=InternVideo2Config.stage2_1b)
    vocab: str = ""
    max_length: int = 40
    dtype: Any = jnp.float32
    attention_impl: str = "auto"
    remat: bool = False
    name: str = "internvideo2"
    tokenizes_text = True

    @property
    def tokenizer(self) -> WordPieceTokenizer:
        return _tokenizer(self.vocab or None, self.max_length)

    def tokenize(self, prompts: Sequence[str]) -> np.ndarray:
        ids, _ = self.tokenizer.tokenize(prompts)
        return ids

    def init_params(self, rng: jax.Array) -> Any:
        return init_params(self.config, rng)

    def params_shapes(self) -> Any:
        return param_shapes(self.config)

    def load_params(self, path: str) -> Any:
        """Weights from ``InternVideo2-stage2_1b-224p-f4.pt`` (time position rows resampled to the config)."""
        return load_internvideo2(path, self.config)

    def preprocess(self, frames: jax.Array, crop_key: Optional[jax.Array] = None, offset: Optional[tuple] = None):
        """RGB ``(B, T, H, W, 3)`` in [0, 1] -> the encoder's normalised ``(B, T, size, size, 3)``; the crop
        is at ``offset`` if given, else random with ``crop_key``, else centred."""
        b, t = frames.shape[:2]
        size = self.config.vision.img_size
        flat = frames.reshape(b * t, *frames.shape[2:]).astype(jnp.float32)
        if offset is None and crop_key is not None:
            offset = random_crop_offset(crop_key, flat.shape, size)
        x = resize_crop_min_size(flat, size, offset)
        x = (x - jnp.asarray(IMAGENET_MEAN)) / jnp.asarray(IMAGENET_STD)
        return x.reshape(b, t, size, size, 3)

    def video_features(self, params: Any, frames: jax.Array, crop_key: Optional[jax.Array] = None,
                       offset: Optional[tuple] = None) -> jax.Array:
        """Unit video features ``(B, embed_dim)`` of RGB frames in [0, 1], preprocessed as the release does."""
        return video_features(params, self.config, self.preprocess(frames, crop_key, offset), dtype=self.dtype,
                              attention_impl=self.attention_impl, remat=self.remat)

    def text_features(self, params: Any, input_ids: jax.Array) -> jax.Array:
        """Unit text features ``(B, embed_dim)``; constant per prompt."""
        mask = (input_ids != PAD_ID).astype(jnp.int32)
        return text_features(params, self.config, input_ids, mask, dtype=self.dtype)

    def score(self, params: Any, frames: jax.Array, text_tokens: jax.Array, crop_key: Optional[jax.Array] = None):
        """Cosine ``(batch,)`` of each video with its prompt; ``crop_key`` draws the release's random crop."""
        check_frames(frames, text_tokens)
        if frames.shape[1] != self.config.vision.num_frames:
            raise ValueError(f"InternVideo2 reward takes {self.config.vision.num_frames} frames per video, "
                             f"got {frames.shape[1]}")
        video = self.video_features(params, frames, crop_key)
        text = jax.lax.stop_gradient(self.text_features(params, text_tokens))
        return jnp.sum(video * text, axis=-1)


def _tokenizer(vocab: Optional[str], max_length: int) -> WordPieceTokenizer:
    key = (vocab, max_length)
    if key not in _TOKENIZERS:
        _TOKENIZERS[key] = WordPieceTokenizer(vocab if vocab else character_vocabulary(), max_length)
    return _TOKENIZERS[key]


_TOKENIZERS: dict = {}
