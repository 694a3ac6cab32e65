"""The interface training uses for differentiable rewards on generated frames.

A reward is a frozen scorer: its parameters live in the training step's ``frozen`` dict and are never
differentiated, while gradients flow from the score back into the frames (and through the VAE decode
into the student). Training minimises ``-weight · score``.
"""

from __future__ import annotations

import abc
from typing import Any, Sequence

import jax
import numpy as np

__all__ = ["RewardModel", "check_frames"]


def check_frames(frames, text_tokens=None) -> None:
    """Frames are ``(batch, frames, height, width, 3)``; tokens, if given, ``(batch, length)``."""
    if frames.ndim != 5 or frames.shape[-1] != 3:
        raise ValueError(f"reward frames must be (batch, frames, height, width, 3) in [0, 1], got {tuple(frames.shape)}")
    if text_tokens is not None and (text_tokens.ndim != 2 or text_tokens.shape[0] != frames.shape[0]):
        raise ValueError(
            f"text tokens must be (batch, length) with batch {frames.shape[0]} like the frames, "
            f"got {tuple(text_tokens.shape)}"
        )


class RewardModel(abc.ABC):
    """``score(params, frames, text_tokens) -> (batch,)``; higher is better.

    ``frames`` are RGB in [0, 1], ``(batch, frames, height, width, 3)``, each video scored against its
    own prompt. ``score`` is a pure function of its arguments (jit- and grad-friendly); one with random
    preprocessing takes it from a keyword ``crop_key`` (deterministic without).
    """

    name: str = "reward"
    # True when ``score`` reads the ids of this model's own ``tokenize`` (e.g. BERT WordPiece) instead of
    # the run's OpenCLIP prompt tokens; training then tokenizes each batch's prompts with it.
    tokenizes_text: bool = False

    @abc.abstractmethod
    def tokenize(self, prompts: Sequence[str]) -> np.ndarray:
        """Prompts -> the integer tokens ``score`` expects."""

    @abc.abstractmethod
    def init_params(self, rng: jax.Array) -> Any:
        """Randomly initialised parameters (tests, shapes); real weights come from ``load_params``."""

    @abc.abstractmethod
    def load_params(self, path: str) -> Any:
        """Parameters from the released checkpoint file."""

    @abc.abstractmethod
    def score(self, params: Any, frames: jax.Array, text_tokens: jax.Array) -> jax.Array:
        """Per-video score ``(batch,)`` float32."""

    def params_shapes(self) -> Any:
        """Parameter shapes without allocating them."""
        return jax.eval_shape(self.init_params, jax.random.key(0))
