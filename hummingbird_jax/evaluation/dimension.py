"""What every VBench dimension module provides, so the runner can treat them alike.

A :class:`Dimension` names the weight files it needs (inside the user's ``--weights`` directory),
loads its models once (``load(weights_dir) -> state``), scores one decoded video
(``score(state, video) -> dict`` with at least ``score``), and folds the per-video results into the
dimension's total exactly as VBench does (``aggregate``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional

import numpy as np

__all__ = ["Video", "Dimension", "mean_of_scores"]


@dataclasses.dataclass
class Video:
    """One decoded video: uint8 ``frames (T, H, W, 3)`` RGB, its frame rate and its prompt."""

    path: str
    frames: np.ndarray
    fps: float
    prompt: Optional[str] = None


def mean_of_scores(results: list[dict]) -> float:
    """Plain mean of per-video scores (temporal flickering, aesthetic quality, ViCLIP dimensions)."""
    return float(np.mean([r["score"] for r in results]))


@dataclasses.dataclass(frozen=True)
class Dimension:
    name: str
    needs: tuple[str, ...]
    load: Callable[[str], Any]
    score: Callable[[Any, Video], dict]
    aggregate: Callable[[list[dict]], float] = mean_of_scores
    needs_prompt: bool = False
