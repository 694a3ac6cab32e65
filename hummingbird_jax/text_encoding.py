"""Prompts -> U-Net context ``(B, 77, width)`` with the OpenCLIP text tower.

Generation and training batches repeat prompts (classifier-free guidance pairs every prompt with
``""``; evaluation sets repeat captions), so each distinct prompt is tokenized and encoded once per
call and the rows are gathered back. The number of distinct prompts is rounded up to a power of two
before the jitted encoder runs, so a stream of calls compiles only a handful of shapes.
"""

from __future__ import annotations

import functools
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from hummingbird_jax.models.clip import CLIPTextConfig, CLIPTextEncoder
from hummingbird_jax.text import tokenize

__all__ = ["unique_prompts", "encode_prompts", "unconditional_embedding", "PromptEncoder"]


@functools.lru_cache(maxsize=None)
def _context_fn(cfg: CLIPTextConfig, dtype: str, attention_impl: str):
    model = CLIPTextEncoder(cfg, dtype=jnp.dtype(dtype), attention_impl=attention_impl)
    return jax.jit(lambda params, tokens: model.apply({"params": params}, tokens))


def unique_prompts(prompts: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Distinct prompts in first-seen order, and for every input the index of its distinct prompt."""
    if isinstance(prompts, str):
        raise TypeError("prompts must be a sequence of strings, not a single string")
    position: dict[str, int] = {}
    index = np.array([position.setdefault(p, len(position)) for p in prompts], dtype=np.int32)
    return list(position), index


def _bucket(n: int) -> int:
    return 1 << max(n - 1, 0).bit_length()


def encode_prompts(
    params,
    prompts: Sequence[str],
    cfg: CLIPTextConfig | None = None,
    *,
    dtype=jnp.float32,
    attention_impl: str = "auto",
) -> jax.Array:
    """U-Net context for each prompt, ``(len(prompts), context_length, width)`` float32.

    ``params`` are :class:`CLIPTextEncoder` params (e.g. from ``text_encoder_from_torch``); ``cfg``
    defaults to ViT-H-14. Each distinct prompt is encoded once.
    """
    cfg = cfg or CLIPTextConfig.vit_h_14()
    if len(prompts) == 0:
        raise ValueError("encode_prompts needs at least one prompt")
    distinct, index = unique_prompts(prompts)
    tokens = tokenize(distinct, cfg.context_length)
    padded = np.concatenate([tokens, np.repeat(tokens[:1], _bucket(len(distinct)) - len(distinct), 0)])
    context = _context_fn(cfg, jnp.dtype(dtype).name, attention_impl)(params, jnp.asarray(padded))
    return context[jnp.asarray(index)].astype(jnp.float32)


def unconditional_embedding(params, cfg: CLIPTextConfig | None = None, batch_size: int = 1, **kwargs) -> jax.Array:
    """Context of the empty prompt, the unconditional branch of classifier-free guidance."""
    context = encode_prompts(params, [""], cfg, **kwargs)
    return jnp.broadcast_to(context, (batch_size, *context.shape[1:]))


class PromptEncoder:
    """Text tower params bound to their config; remembers the unconditional embedding."""

    def __init__(self, params, cfg: CLIPTextConfig | None = None, *, dtype=jnp.float32, attention_impl: str = "auto"):
        self.params = params
        self.cfg = cfg or CLIPTextConfig.vit_h_14()
        self._kwargs = dict(dtype=dtype, attention_impl=attention_impl)
        self._uncond = None

    def __call__(self, prompts: Sequence[str]) -> jax.Array:
        return encode_prompts(self.params, prompts, self.cfg, **self._kwargs)

    def unconditional(self, batch_size: int = 1) -> jax.Array:
        if self._uncond is None:
            self._uncond = encode_prompts(self.params, [""], self.cfg, **self._kwargs)
        return jnp.broadcast_to(self._uncond, (batch_size, *self._uncond.shape[1:]))
