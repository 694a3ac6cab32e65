"""Ahead-of-time compiled programs of one text-to-video pipeline, kept in a bounded LRU cache.

Compiling the sampling loop or the VAE decode costs seconds to minutes, running it again costs
nothing, so each program is compiled once per key (configs, static settings, argument shapes) and
reused. The cache belongs to a pipeline object and holds at most ``max_entries`` programs: a long
process that generates at many sizes drops the least recently used ones instead of growing forever.
"""

from __future__ import annotations

import collections
import time
from typing import Callable, Hashable

import jax


def shape_key(args) -> tuple:
    """What a compiled program depends on in its arguments: tree structure, shapes and dtypes."""
    leaves = jax.tree_util.tree_leaves(args)
    return jax.tree_util.tree_structure(args), tuple((tuple(a.shape), str(a.dtype)) for a in leaves)


class CompileCache:
    """``get(key, fn, *args) -> (executable, seconds spent compiling)``; 0 seconds on a hit."""

    def __init__(self, max_entries: int = 16):
        if max_entries < 1:
            raise ValueError(f"max_entries={max_entries}; expected at least 1")
        self.max_entries = max_entries
        self._programs: collections.OrderedDict = collections.OrderedDict()

    def __len__(self) -> int:
        return len(self._programs)

    def get(self, key: Hashable, fn: Callable, *args):
        key = (key, shape_key(args))
        if key in self._programs:
            self._programs.move_to_end(key)
            return self._programs[key], 0.0
        start = time.perf_counter()
        compiled = jax.jit(fn).lower(*args).compile()
        self._programs[key] = compiled
        if len(self._programs) > self.max_entries:
            self._programs.popitem(last=False)
        return compiled, time.perf_counter() - start
