"""BERT's text encoder (post-norm transformer, HuggingFace parameter names), possibly cut short.

InternVideo2's text tower is BERT-large whose top layers also cross-attend to video (from
``fusion_layer`` on); its text features come from the layers below, so :class:`BertTextEncoder` runs
only the first ``num_layers`` and builds no others. Absolute position embeddings, token type 0, the
attention mask added as ``(1 − mask)·(−10000)`` before a float32 softmax.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

__all__ = ["BertConfig", "BertTextEncoder"]

_ACTIVATIONS = {
    "gelu": lambda x: nn.gelu(x, approximate=False),
    "gelu_new": lambda x: nn.gelu(x, approximate=True),
    "relu": nn.relu,
}


@dataclasses.dataclass(frozen=True)
class BertConfig:
    """The fields of a BERT ``config.json`` that shape the text encoder."""

    hidden_size: int = 1024
    num_hidden_layers: int = 24
    num_attention_heads: int = 16
    intermediate_size: int = 4096
    vocab_size: int = 30522
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    hidden_act: str = "gelu"
    pad_token_id: int = 0

    def __post_init__(self):
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(f"BertConfig: hidden_size {self.hidden_size} is not divisible by "
                             f"num_attention_heads {self.num_attention_heads}")
        if self.hidden_act not in _ACTIVATIONS:
            raise ValueError(f"BertConfig: hidden_act {self.hidden_act!r}; expected one of {sorted(_ACTIVATIONS)}")

    @classmethod
    def from_json_dict(cls, fields: Mapping[str, Any]) -> "BertConfig":
        """From a BERT ``config.json``'s dict; fields that do not shape the encoder are ignored, and
        position embeddings other than absolute are refused."""
        kind = fields.get("position_embedding_type", "absolute")
        if kind != "absolute":
            raise ValueError(f"BERT config: position_embedding_type {kind!r}; only 'absolute' is supported")
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in fields.items() if k in names})


class BertLayer(nn.Module):
    cfg: BertConfig
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, mask_bias):
        cfg = self.cfg
        b, n, c = x.shape
        heads, head_dim = cfg.num_attention_heads, c // cfg.num_attention_heads
        dense = lambda features, name: nn.Dense(features, dtype=self.dtype, name=name)  # noqa: E731
        ln = lambda name: nn.LayerNorm(epsilon=cfg.layer_norm_eps, dtype=jnp.float32, name=name)  # noqa: E731
        h = x.astype(self.dtype)
        q, k, v = (dense(c, f"attention.self.{name}")(h).reshape(b, n, heads, head_dim)
                   for name in ("query", "key", "value"))
        scores = jnp.einsum("bqhd,bkhd->bhqk", q, k, preferred_element_type=jnp.float32) / jnp.sqrt(head_dim)
        probs = jax.nn.softmax(scores + mask_bias, axis=-1)
        ctx = jnp.einsum("bhqk,bkhd->bqhd", probs.astype(self.dtype), v).reshape(b, n, c)
        x = ln("attention.output.LayerNorm")(dense(c, "attention.output.dense")(ctx).astype(jnp.float32) + x)
        h = _ACTIVATIONS[cfg.hidden_act](dense(cfg.intermediate_size, "intermediate.dense")(x.astype(self.dtype)))
        return ln("output.LayerNorm")(dense(c, "output.dense")(h).astype(jnp.float32) + x)


class BertTextEncoder(nn.Module):
    """``(input_ids, attention_mask) (B, L)`` -> last hidden states ``(B, L, hidden_size)`` after
    ``num_layers`` layers (default: all)."""

    cfg: BertConfig
    num_layers: Optional[int] = None
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, input_ids, attention_mask):
        cfg = self.cfg
        if input_ids.ndim != 2 or input_ids.shape[1] > cfg.max_position_embeddings:
            raise ValueError(f"BERT input_ids must be (batch, length <= {cfg.max_position_embeddings}), "
                             f"got {tuple(input_ids.shape)}")
        embed = lambda rows, name: nn.Embed(rows, cfg.hidden_size, name=name)  # noqa: E731
        n = input_ids.shape[1]
        x = (embed(cfg.vocab_size, "embeddings.word_embeddings")(input_ids)
             + embed(cfg.type_vocab_size, "embeddings.token_type_embeddings")(jnp.zeros_like(input_ids))
             + embed(cfg.max_position_embeddings, "embeddings.position_embeddings")(jnp.arange(n))[None])
        x = nn.LayerNorm(epsilon=cfg.layer_norm_eps, dtype=jnp.float32, name="embeddings.LayerNorm")(x)
        mask_bias = ((1.0 - attention_mask.astype(jnp.float32)) * -10000.0)[:, None, None, :]
        layers = cfg.num_hidden_layers if self.num_layers is None else self.num_layers
        for i in range(layers):
            x = BertLayer(cfg, self.dtype, name=f"encoder.layer.{i}")(x, mask_bias)
        return x
