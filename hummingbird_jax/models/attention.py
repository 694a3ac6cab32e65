"""One attention entry point with per-backend implementations.

``xla``      ``jax.nn.dot_product_attention`` (XLA's fused or plain path).
``cudnn``    cuDNN flash attention: NVIDIA GPUs only, fp16/bf16 inputs.
``chunked``  query-chunked attention, one (batch·head) at a time: memory is bounded by
             ``chunk_size × kv_len`` scores in the forward and the backward pass (each chunk is
             recomputed there), and on CPUs it is several times faster than the plain path for long
             sequences (spatial attention at 40×64 latents is 2,560 tokens per frame).
``auto``     cuDNN on NVIDIA for half precision; ``chunked`` for long sequences on CPU; ``xla``
             elsewhere (ROCm, TPU, short sequences). ROCm and CPU never get cuDNN.

:func:`relative_position_attention` is the temporal attention with learned relative-position
embeddings (LVDM's ``use_relative_position``), a plain einsum: it only runs over frames.

Shapes follow ``jax.nn.dot_product_attention``: ``q (B, Lq, H, D)``, ``k, v (B, Lk, H, D)``. Scores
and softmax are computed in float32 whatever the input dtype.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from hummingbird_jax.hardware import backend_kind

IMPLEMENTATIONS = ("auto", "xla", "cudnn", "chunked")
# Below this many query×key scores per head the plain path is as fast and simpler to compile.
_CHUNKED_MIN_SCORES = 256 * 256


def resolve_implementation(implementation: str, q_len: int, kv_len: int, dtype) -> str:
    """The concrete implementation ``auto`` stands for on this backend and problem size."""
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(f"attention implementation {implementation!r}; expected one of {IMPLEMENTATIONS}")
    if implementation != "auto":
        return implementation
    kind = backend_kind()
    if kind == "cuda" and jnp.dtype(dtype) in (jnp.bfloat16, jnp.float16):
        return "cudnn"
    if kind == "cpu" and q_len * kv_len >= _CHUNKED_MIN_SCORES:
        return "chunked"
    return "xla"


def dot_product_attention(q, k, v, *, causal: bool = False, implementation: str = "auto",
                          chunk_size: int = 512):
    """Softmax attention with scale ``D ** -0.5``; returns ``(B, Lq, H, D)`` in ``q.dtype``."""
    impl = resolve_implementation(implementation, q.shape[1], k.shape[1], q.dtype)
    if impl == "chunked":
        return _chunked_attention(q, k, v, causal=causal, chunk_size=chunk_size)
    if impl == "cudnn":
        if backend_kind() != "cuda":
            raise ValueError(f"attention implementation 'cudnn' needs an NVIDIA GPU (backend: {backend_kind()})")
        half = jnp.bfloat16 if q.dtype == jnp.float32 else q.dtype
        out = jax.nn.dot_product_attention(
            q.astype(half), k.astype(half), v.astype(half), is_causal=causal, implementation="cudnn"
        )
        return out.astype(q.dtype)
    return jax.nn.dot_product_attention(q, k, v, is_causal=causal, implementation="xla")


def _chunked_attention(q, k, v, *, causal: bool, chunk_size: int):
    """One (batch·head) and one query chunk at a time, un-normalised exp, divide at the end."""
    b, q_len, h, d = q.shape
    kv_len = k.shape[1]
    scale = 1.0 / math.sqrt(d)
    chunk = min(chunk_size, q_len)
    n_chunks = -(-q_len // chunk)
    pad = n_chunks * chunk - q_len

    def heads_first(x):  # (B, L, H, D) -> (B·H, L, D)
        return jnp.transpose(x, (0, 2, 1, 3)).reshape(b * h, x.shape[1], d)

    qh = heads_first(q)
    if pad:
        qh = jnp.pad(qh, ((0, 0), (0, pad), (0, 0)))
    qh = qh.reshape(b * h, n_chunks, chunk, d)
    kh, vh = heads_first(k), heads_first(v)
    key_pos = jnp.arange(kv_len)

    def one_head(args):
        q_chunks, k_one, v_one = args

        def one_chunk(inputs):
            q_c, start = inputs
            s = jnp.dot(q_c, k_one.T, preferred_element_type=jnp.float32) * scale
            if causal:
                query_pos = start + jnp.arange(chunk)
                s = jnp.where(key_pos[None, :] <= query_pos[:, None], s, -jnp.inf)
            p = jnp.exp(s - jnp.max(s, axis=-1, keepdims=True))
            out = jnp.dot(p.astype(v_one.dtype), v_one, preferred_element_type=jnp.float32)
            return out / jnp.sum(p, axis=-1, keepdims=True)

        starts = jnp.arange(n_chunks) * chunk
        # Checkpointed: the backward pass recomputes each chunk's scores instead of keeping every
        # chunk's probabilities, which together are the full (q_len, kv_len) matrix per head.
        return jax.lax.map(jax.checkpoint(one_chunk, prevent_cse=False), (q_chunks, starts))

    out = jax.lax.map(one_head, (qh, kh, vh))  # (B·H, n_chunks, chunk, D)
    out = out.reshape(b * h, n_chunks * chunk, d)[:, :q_len]
    return jnp.transpose(out.reshape(b, h, q_len, d), (0, 2, 1, 3)).astype(q.dtype)


def relative_position_attention(q, k, v, table_k, table_v, max_distance: int):
    """Self-attention with learned relative positions (Shaw et al. 2018, as LVDM's temporal attention):
    ``score[i, j] = q_i · (k_j + table_k[d]) / √D`` and ``out_i = Σ_j p_ij (v_j + table_v[d])`` where
    ``d = clip(j − i, −max_distance, max_distance) + max_distance``. Without it temporal attention is
    blind to frame order, so the direction of a motion can only come from the temporal convolutions.

    ``q, k, v (B, L, H, D)``; ``table_k, table_v (2·max_distance + 1, D)``, shared by the heads.
    """
    length, d = q.shape[1], q.shape[-1]
    pos = jnp.arange(length)
    index = jnp.clip(pos[None, :] - pos[:, None], -max_distance, max_distance) + max_distance  # (Lq, Lk)
    # jnp.take, not table[index]: a table held as a NumPy array (parameters read from a file and closed
    # over by a jitted sampler) cannot be indexed by a traced index.
    rel_k, rel_v = (jnp.take(jnp.asarray(table), index, axis=0).astype(q.dtype)  # (Lq, Lk, D)
                    for table in (table_k, table_v))
    f32 = dict(preferred_element_type=jnp.float32)
    scores = jnp.einsum("bqhd,bkhd->bhqk", q, k, **f32) + jnp.einsum("bqhd,qkd->bhqk", q, rel_k, **f32)
    p = jax.nn.softmax(scores / math.sqrt(d), axis=-1).astype(v.dtype)
    out = jnp.einsum("bhqk,bkhd->bqhd", p, v, **f32) + jnp.einsum("bhqk,qkd->bqhd", p, rel_v, **f32)
    return out.astype(q.dtype)
