"""PyTorch's ``F.interpolate`` (bilinear / bicubic, ``align_corners=False``, no antialiasing) as
separable resampling matrices.

VBench resizes frames with torchvision's ``Resize(antialias=False)`` and DINO resamples its position
grid with ``F.interpolate(mode='bicubic', scale_factor=...)``. ``jax.image.resize`` uses another cubic
kernel (a = -0.5) and antialiases, so the scores would drift; these matrices follow PyTorch's index
and weight rules exactly (cubic a = -0.75, clamped border taps, bilinear source clamped at 0).
Sizes are static, so the matrices are built once with NumPy at trace time.
"""

from __future__ import annotations

import functools
from typing import Optional

import jax.numpy as jnp
import numpy as np

__all__ = ["resize_matrix", "resize_2d"]

_CUBIC_A = -0.75  # PyTorch's bicubic coefficient


def _cubic_near(x):  # |x| <= 1
    return ((_CUBIC_A + 2) * x - (_CUBIC_A + 3)) * x * x + 1


def _cubic_far(x):  # 1 < |x| < 2
    return ((_CUBIC_A * x - 5 * _CUBIC_A) * x + 8 * _CUBIC_A) * x - 4 * _CUBIC_A


@functools.lru_cache(maxsize=64)
def resize_matrix(in_size: int, out_size: int, mode: str, scale_factor: Optional[float] = None) -> np.ndarray:
    """``(out_size, in_size)`` float64 matrix ``M`` with ``resized = M @ signal`` along one axis.

    ``scale_factor`` is the factor handed to ``F.interpolate`` (PyTorch then maps coordinates with
    ``1 / scale_factor`` instead of ``in_size / out_size``).
    """
    if mode not in ("bilinear", "bicubic"):
        raise ValueError(f"interpolation mode must be 'bilinear' or 'bicubic', got {mode!r}")
    scale = 1.0 / scale_factor if scale_factor else in_size / out_size
    src = scale * (np.arange(out_size) + 0.5) - 0.5
    m = np.zeros((out_size, in_size))
    rows = np.arange(out_size)
    if mode == "bilinear":
        src = np.maximum(src, 0.0)
        i0 = np.floor(src).astype(int)
        i1 = np.minimum(i0 + 1, in_size - 1)
        frac = src - i0
        np.add.at(m, (rows, i0), 1.0 - frac)
        np.add.at(m, (rows, i1), frac)
        return m
    i = np.floor(src).astype(int)
    t = src - i
    taps = (_cubic_far(t + 1), _cubic_near(t), _cubic_near(1 - t), _cubic_far(2 - t))
    for offset, weight in zip((-1, 0, 1, 2), taps):
        np.add.at(m, (rows, np.clip(i + offset, 0, in_size - 1)), weight)
    return m


def resize_2d(x, out_hw: tuple[int, int], mode: str, scale_factor: Optional[tuple[float, float]] = None):
    """Resize axes ``-3, -2`` of a channels-last array (``(..., H, W, C)``) in float32."""
    h, w = x.shape[-3], x.shape[-2]
    sh, sw = scale_factor if scale_factor else (None, None)
    mh = jnp.asarray(resize_matrix(h, out_hw[0], mode, sh), jnp.float32)
    mw = jnp.asarray(resize_matrix(w, out_hw[1], mode, sw), jnp.float32)
    x = jnp.einsum("oh,...hwc->...owc", mh, x.astype(jnp.float32), precision="highest")
    return jnp.einsum("pw,...hwc->...hpc", mw, x, precision="highest")
