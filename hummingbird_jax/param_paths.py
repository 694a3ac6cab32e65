"""Parameter trees as flat ``{'a/b/kernel': leaf}`` maps: how the models' statistics and the checkpoint
converters both name a parameter (a leaf module, so neither has to import the other)."""

from __future__ import annotations

from typing import Any

import jax


def flax_paths(tree: Any) -> dict[str, Any]:
    """``{'a/b/kernel': leaf}`` for every leaf of a nested params dict."""
    flat = {}
    for key_path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        flat["/".join(str(getattr(k, "key", k)) for k in key_path)] = leaf
    return flat
