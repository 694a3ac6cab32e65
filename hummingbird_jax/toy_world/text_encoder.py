"""The frozen text encoder: the engine's ``tiny-w32-16tok`` OpenCLIP text tower (16-token context) with
random, seeded weights whose word embeddings are scaled up.

Why the two changes from a plain random tower: the U-Net reads captions through cross-attention, and
at the start of training its attention is nearly uniform, so what it can pick up is the caption's
share of the context. With 77 tokens, most of them padding, and word embeddings no larger than the
position embeddings, a random 2-layer tower gives contexts whose caption-specific part is about a
tenth of their energy, and a toy teacher trained for a few thousand clips ignores the text. Sixteen
tokens hold every toy caption (at most 13 tokens with SOT and EOT), and word embeddings ×30 keep each
output token mostly its own word. :func:`caption_energy` measures that share.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from hummingbird_jax import registry
from hummingbird_jax.models.clip import CLIPTextConfig, CLIPTextEncoder
from hummingbird_jax.text import tokenize
from hummingbird_jax.toy_world.teacher import TOY_TEACHER

WORD_EMBEDDING_SCALE = 30.0

TOY_TEXT = registry.UNETS[TOY_TEACHER].text


def toy_text_config() -> CLIPTextConfig:
    return registry.text_tower(TOY_TEXT)


def init_text_encoder(seed: int = 2):
    cfg = toy_text_config()
    tokens = jnp.zeros((1, cfg.context_length), jnp.int32)
    params = jax.jit(lambda k: CLIPTextEncoder(cfg).init(k, tokens))(jax.random.key(seed))["params"]
    words = params["token_embedding"]["embedding"]
    return {**params, "token_embedding": {"embedding": words * WORD_EMBEDDING_SCALE}}


def encode_captions(params, captions: Sequence[str]) -> np.ndarray:
    """U-Net contexts ``(B, context_length, width)`` of ``captions`` (``""`` gives the unconditional context)."""
    cfg = toy_text_config()
    tokens = jnp.asarray(tokenize(list(captions), cfg.context_length))
    return np.asarray(jax.jit(lambda p, t: CLIPTextEncoder(cfg).apply({"params": p}, t))(params, tokens))


def context_separation(params, captions: Sequence[str]) -> float:
    """Smallest distance between two captions' contexts, relative to the mean context norm (> 0: all distinct)."""
    ctx = encode_captions(params, captions).reshape(len(captions), -1)
    dist = np.sqrt(np.maximum(((ctx[:, None] - ctx[None]) ** 2).sum(-1), 0.0))
    np.fill_diagonal(dist, np.inf)
    return float(dist.min() / np.linalg.norm(ctx, axis=1).mean())


def caption_energy(params, captions: Sequence[str]) -> float:
    """Share of the contexts' energy that varies between ``captions`` (the rest is common to all of them)."""
    ctx = encode_captions(params, captions)
    return float(np.sum((ctx - ctx.mean(0)) ** 2) / np.sum(ctx ** 2))
