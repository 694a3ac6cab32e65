"""Low-rank adapters (LoRA) on U-Net kernels, kept beside the frozen weights and merged on export.

For a kernel ``W`` of shape ``(..., in, out)`` (Dense ``(in, out)``, Conv2d ``(kh, kw, in, out)``,
Conv3d ``(kt, kh, kw, in, out)``) the adapter is ``A (..., in, r)`` and ``B (r, out)`` and the
effective kernel is ``W + (alpha / r) · A·B``: for a convolution ``A`` is a convolution with ``W``'s
taps into ``r`` channels and ``B`` a 1×1 projection, as PEFT adapts ``Conv2d``/``Conv3d`` layers.
``B`` starts at zero, so training starts from exactly the base model.

Adapters live in a nested dict mirroring the params tree, holding only the adapted kernels:
``{..., 'kernel': {'lora_a': A, 'lora_b': B}}``.
"""

from __future__ import annotations

import re
from typing import Any

import jax
import jax.numpy as jnp
from flax import traverse_util


def path_name(path: tuple[str, ...]) -> str:
    """``('input_blocks.1', '0', 'in_layers.2', 'kernel')`` → ``'input_blocks.1/0/in_layers.2/kernel'``:
    the string that trainable-set and LoRA regexes are matched against."""
    return "/".join(path)


def lora_target_paths(params: Any, pattern: str) -> list[tuple[str, ...]]:
    """Paths of the kernels (rank ≥ 2) whose path name matches ``pattern`` (``re.search``)."""
    regex = re.compile(pattern)
    flat = traverse_util.flatten_dict(params)
    paths = [p for p, leaf in flat.items() if p[-1] == "kernel" and len(leaf.shape) >= 2 and regex.search(path_name(p))]
    if not paths:
        raise ValueError(f"trainable.lora_targets={pattern!r} matches no U-Net kernel")
    return sorted(paths)


def init_lora(params: Any, pattern: str, rank: int, key: jax.Array) -> dict:
    """Adapters for every kernel matched by ``pattern``: ``A ~ N(0, 1/fan_in)``, ``B = 0`` (float32)."""
    if rank < 1:
        raise ValueError(f"trainable.lora_rank must be >= 1, got {rank}")
    flat = traverse_util.flatten_dict(params)
    out = {}
    for i, path in enumerate(lora_target_paths(params, pattern)):
        shape = flat[path].shape
        fan_in = 1
        for d in shape[:-1]:
            fan_in *= int(d)
        a = jax.random.normal(jax.random.fold_in(key, i), (*shape[:-1], rank), jnp.float32) * fan_in**-0.5
        out[path + ("lora_a",)] = a
        out[path + ("lora_b",)] = jnp.zeros((rank, shape[-1]), jnp.float32)
    return traverse_util.unflatten_dict(out)


def lora_delta(a: jax.Array, b: jax.Array, scale: float) -> jax.Array:
    """``scale · A·B`` contracted over the rank: the change to one kernel."""
    return scale * jnp.einsum("...r,ro->...o", a, b)


def merge_lora(params: Any, adapters: dict, alpha: float, rank: int) -> Any:
    """Base params with every adapter folded in (``W + alpha/r · A·B``, in ``W``'s dtype)."""
    flat = dict(traverse_util.flatten_dict(params))
    for path, pair in traverse_util.flatten_dict(adapters, is_leaf=lambda _, v: "lora_a" in v).items():
        if path not in flat:
            raise KeyError(f"LoRA adapter for {path_name(path)} has no base kernel")
        base = flat[path]
        flat[path] = (base + lora_delta(pair["lora_a"], pair["lora_b"], alpha / rank)).astype(base.dtype)
    return traverse_util.unflatten_dict(flat)
