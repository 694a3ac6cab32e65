"""Which student parameters a run trains: all of them, a regex subset, or LoRA adapters.

The student is split into ``trainable`` (differentiated, optimised, checkpointed with the optimizer
state) and ``base`` (held fixed, checkpointed once per step like the rest of the state). Every mode
reassembles the full U-Net params with :func:`student_params`, which is what the loss and the export
see.

* ``full``: ``trainable`` is the whole student, ``base`` is empty.
* ``regex``: ``trainable`` holds the leaves whose path matches ``regex`` (e.g. ``temopral_conv|
  TemporalTransformer`` style patterns for temporal layers only), ``base`` the rest.
* ``lora``: ``trainable`` holds LoRA adapters on the kernels matching ``lora_targets``, ``base`` the
  whole student.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import jax
from flax import traverse_util

from hummingbird_jax.training.lora import init_lora, merge_lora, path_name

MODES = ("full", "regex", "lora")


@dataclasses.dataclass(frozen=True)
class TrainableSpec:
    mode: str = "full"
    regex: str = ""
    lora_rank: int = 64
    lora_alpha: float = 64.0
    lora_targets: str = ".*"

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"trainable.mode = {self.mode!r}; expected one of {MODES}")
        if self.mode == "regex" and not self.regex:
            raise ValueError("trainable.mode = 'regex' needs trainable.regex (a pattern over parameter paths)")

    @classmethod
    def from_config(cls, c) -> "TrainableSpec":
        return cls(mode=c.mode, regex=c.regex, lora_rank=int(c.lora_rank), lora_alpha=float(c.lora_alpha),
                   lora_targets=c.lora_targets)


def _regex_paths(params: Any, pattern: str) -> set[tuple[str, ...]]:
    regex = re.compile(pattern)
    paths = {p for p in traverse_util.flatten_dict(params) if regex.search(path_name(p))}
    if not paths:
        raise ValueError(f"trainable.regex={pattern!r} matches no student parameter")
    return paths


def split_tree(tree: Any, paths: set[tuple[str, ...]]) -> tuple[dict, dict]:
    """``(leaves at paths, the other leaves)`` as two nested dicts."""
    flat = traverse_util.flatten_dict(tree)
    chosen = {p: v for p, v in flat.items() if p in paths}
    rest = {p: v for p, v in flat.items() if p not in paths}
    return traverse_util.unflatten_dict(chosen), traverse_util.unflatten_dict(rest)


def merge_trees(a: dict, b: dict) -> dict:
    return traverse_util.unflatten_dict({**traverse_util.flatten_dict(a), **traverse_util.flatten_dict(b)})


def split_student(params: Any, spec: TrainableSpec, key: jax.Array | None = None) -> tuple[Any, Any]:
    """Student params → ``(trainable, base)`` for ``spec.mode``; ``key`` seeds LoRA's ``A``."""
    if spec.mode == "full":
        return params, {}
    if spec.mode == "regex":
        return split_tree(params, _regex_paths(params, spec.regex))
    return init_lora(params, spec.lora_targets, spec.lora_rank, key if key is not None else jax.random.key(0)), params


def student_params(trainable: Any, base: Any, spec: TrainableSpec) -> Any:
    """The full U-Net params the loss (and the export) uses."""
    if spec.mode == "full":
        return trainable
    if spec.mode == "regex":
        return merge_trees(trainable, base)
    return merge_lora(base, trainable, spec.lora_alpha, spec.lora_rank)
