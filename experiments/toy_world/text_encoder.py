"""The frozen text encoder: the engine's ``tiny`` OpenCLIP text tower with random, seeded weights.

The toy captions are distinct token sequences, so even an untrained transformer maps them to distinct
contexts; the U-Net learns to read them. :func:`context_separation` checks that every pair of
captions gets a different context.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from hummingbird_jax.models.clip import CLIPTextConfig, CLIPTextEncoder
from hummingbird_jax.text import tokenize
from hummingbird_jax.training.models import text_config


def toy_text_config() -> CLIPTextConfig:
    return text_config("tiny")


def init_text_encoder(seed: int = 2):
    cfg = toy_text_config()
    tokens = jnp.zeros((1, cfg.context_length), jnp.int32)
    return jax.jit(lambda k: CLIPTextEncoder(cfg).init(k, tokens))(jax.random.key(seed))["params"]


def encode_captions(params, captions: Sequence[str]) -> np.ndarray:
    """U-Net contexts ``(B, 77, width)`` of ``captions`` (``""`` gives the unconditional context)."""
    cfg = toy_text_config()
    tokens = jnp.asarray(tokenize(list(captions), cfg.context_length))
    return np.asarray(jax.jit(lambda p, t: CLIPTextEncoder(cfg).apply({"params": p}, t))(params, tokens))


def context_separation(params, captions: Sequence[str]) -> float:
    """Smallest distance between two captions' contexts, relative to the mean context norm (> 0: all distinct)."""
    ctx = encode_captions(params, captions).reshape(len(captions), -1)
    dist = np.sqrt(np.maximum(((ctx[:, None] - ctx[None]) ** 2).sum(-1), 0.0))
    np.fill_diagonal(dist, np.inf)
    return float(dist.min() / np.linalg.norm(ctx, axis=1).mean())
