"""VBench's frame preprocessing (``vbench/utils.py`` of vbench 0.1.5) on channels-last arrays.

* ``clip_transform(224)``: short side to 224 with bicubic interpolation, no antialiasing; centre
  crop 224; ``/255``; CLIP's mean and std. Frames read by ``load_video`` are float tensors (no
  rounding after the resize); frames read by ``read_frames_decord_by_fps`` (the ViCLIP dimensions)
  are uint8, so torchvision clamps and rounds the resized frame back to uint8 first (``uint8=True``).
* ``dino_transform(224)``: short side to 224 with bilinear interpolation, no antialiasing, no crop
  (DINO takes any size); ``/255``; ImageNet mean and std.

Sizes follow torchvision: the long side becomes ``int(224 * long / short)``; the crop offset rounds
half to even (Python's ``round``). Older VBench releases (the copy in AMD-Hummingbird-T2V) leave
``antialias`` unset, which the torchvision they pin (< 0.16) also treats as no antialiasing for
tensors; 0.1.5 spells it out, so both compute what is computed here.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from hummingbird_jax.models.interpolation import resize_2d
from hummingbird_jax.pixel_stats import CLIP_MEAN, CLIP_STD, IMAGENET_MEAN, IMAGENET_STD

__all__ = ["CLIP_MEAN", "CLIP_STD", "IMAGENET_MEAN", "IMAGENET_STD", "short_side_size", "clip_transform",
           "dino_transform"]


def short_side_size(height: int, width: int, short: int) -> tuple[int, int]:
    """torchvision's ``Resize(short)`` output size for a ``height x width`` image."""
    if height <= width:
        return short, int(short * width / height)
    return int(short * height / width), short


def _normalise(x, mean, std):
    return (x / 255.0 - jnp.asarray(mean, jnp.float32)) / jnp.asarray(std, jnp.float32)


def clip_transform(frames, n_px: int = 224, *, uint8: bool = False):
    """``(T, H, W, 3)`` frames in 0..255 -> ``(T, n_px, n_px, 3)`` CLIP input."""
    frames = jnp.asarray(frames, jnp.float32)
    h, w = frames.shape[1:3]
    rh, rw = short_side_size(h, w, n_px)
    x = resize_2d(frames, (rh, rw), "bicubic")
    if uint8:
        x = jnp.round(jnp.clip(x, 0, 255))
    top, left = int(round((rh - n_px) / 2.0)), int(round((rw - n_px) / 2.0))
    x = x[:, top:top + n_px, left:left + n_px]
    return _normalise(x, CLIP_MEAN, CLIP_STD)


def dino_transform(frames, n_px: int = 224):
    """``(T, H, W, 3)`` frames in 0..255 -> DINO input, short side ``n_px``, aspect kept."""
    frames = jnp.asarray(frames, jnp.float32)
    h, w = frames.shape[1:3]
    x = resize_2d(frames, short_side_size(h, w, n_px), "bilinear")
    return _normalise(x, IMAGENET_MEAN, IMAGENET_STD)


def frames_as_array(frames) -> np.ndarray:
    """A decoded video as a ``(T, H, W, 3)`` array, refusing anything else with a clear message."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] < 1:
        raise ValueError(f"a video must be (frames, height, width, 3), got shape {frames.shape}")
    return frames
