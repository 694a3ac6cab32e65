"""Table-driven PyTorch <-> Flax parameter conversion.

A model's conversion is one list of :class:`Rule` s. Each rule matches a Flax parameter path
(``/``-joined, e.g. ``input_blocks.1/0/in_layers.2/kernel``) with a regular expression and gives the
PyTorch key (a ``re.sub`` template) and a named layout transform. :func:`from_torch` walks the
*expected* Flax tree (usually from ``jax.eval_shape``), so every missing, unexpected or mis-shaped
tensor is found and reported together, in one error.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Callable, Iterable, Mapping, Sequence

import jax
import numpy as np
from flax.core import meta

from hummingbird_jax.param_paths import flax_paths

__all__ = [
    "Rule",
    "ConversionError",
    "TRANSFORMS",
    "default_rules",
    "torch_key_for",
    "from_torch",
    "to_torch",
    "torch_shapes",
]


class ConversionError(KeyError):
    """Checkpoint and model disagree; the message lists every offending key."""

    def __str__(self):  # KeyError would repr() the message and escape its newlines
        return str(self.args[0])


@dataclasses.dataclass(frozen=True)
class Transform:
    """A layout change: ``to_flax`` maps the PyTorch array, ``to_torch`` inverts it."""

    to_flax: Callable[[np.ndarray], np.ndarray]
    to_torch: Callable[[np.ndarray], np.ndarray]
    torch_shape: Callable[[tuple], tuple]


def _perm(axes: Sequence[int]) -> Transform:
    inverse = tuple(np.argsort(axes))
    return Transform(
        to_flax=lambda a: np.transpose(a, axes),
        to_torch=lambda a: np.transpose(a, inverse),
        torch_shape=lambda s: tuple(s[i] for i in inverse),
    )


TRANSFORMS: dict[str, Transform] = {
    "none": Transform(lambda a: a, lambda a: a, lambda s: tuple(s)),
    # nn.Linear (out, in) -> Dense (in, out)
    "linear": _perm((1, 0)),
    # nn.Conv2d (O, I, kh, kw) -> (kh, kw, I, O)
    "conv2d": _perm((2, 3, 1, 0)),
    # nn.Conv3d (O, I, kt, kh, kw) -> (kt, kh, kw, I, O)
    "conv3d": _perm((2, 3, 4, 1, 0)),
    # nn.Conv1d with kernel 1 (O, I, 1) -> Dense (I, O)
    "conv1d_as_dense": Transform(
        to_flax=lambda a: np.transpose(a[..., 0], (1, 0)),
        to_torch=lambda a: np.transpose(a, (1, 0))[..., None],
        torch_shape=lambda s: (s[1], s[0], 1),
    ),
}
_BY_NDIM = {1: "none", 2: "linear", 4: "conv2d", 5: "conv3d"}


@dataclasses.dataclass(frozen=True)
class Rule:
    """``flax_pattern`` (regex, full match) -> ``torch_key`` (``re.sub`` template), ``transform``.

    ``transform=None`` picks by the Flax array's rank: 1-D none, 2-D linear, 4-D conv2d, 5-D conv3d.
    """

    flax_pattern: str
    torch_key: str
    transform: str | None = None

    def match(self, path: str) -> re.Match | None:
        return re.fullmatch(self.flax_pattern, path)


def default_rules() -> list[Rule]:
    """Flax module names mirror PyTorch's, so the generic mapping only renames leaves."""
    return [
        Rule(r"(.*)/kernel", r"\1/weight"),
        Rule(r"(.*)/scale", r"\1/weight", "none"),
        Rule(r"(.*)/embedding", r"\1/weight", "none"),
        Rule(r"(.*)", r"\1"),
    ]


def _unflatten(flat: Mapping[str, Any]) -> dict:
    tree: dict = {}
    for path, value in flat.items():
        node = tree
        *parents, leaf = path.split("/")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree


def torch_key_for(path: str, rules: Iterable[Rule], ndim: int) -> tuple[str, str]:
    """PyTorch key and transform name for one Flax path (first matching rule wins)."""
    for rule in rules:
        match = rule.match(path)
        if match:
            key = match.expand(rule.torch_key).replace("/", ".")
            return key, rule.transform or _BY_NDIM.get(ndim, "none")
    raise ConversionError(f"no conversion rule for Flax parameter {path!r}")


def torch_shapes(params_shapes: Any, rules: Sequence[Rule], prefix: str = "") -> dict[str, tuple]:
    """``{torch_key: torch_shape}`` for a Flax tree (arrays or ``ShapeDtypeStruct`` s)."""
    out = {}
    for path, leaf in flax_paths(meta.unbox(params_shapes)).items():
        key, name = torch_key_for(path, rules, len(leaf.shape))
        out[prefix + key] = TRANSFORMS[name].torch_shape(tuple(leaf.shape))
    return out


def from_torch(
    state_dict: Mapping[str, np.ndarray],
    params_shapes: Any,
    rules: Sequence[Rule],
    *,
    prefix: str = "",
    ignore: Sequence[str] = (),
    what: str = "model",
    dtype: Any = None,
) -> dict:
    """Build the Flax params tree shaped like ``params_shapes`` from a PyTorch state dict.

    Only keys starting with ``prefix`` are considered (the prefix is stripped); keys matching any
    regex in ``ignore`` are skipped. Missing, unexpected and mis-shaped keys raise one
    :class:`ConversionError` listing all of them. ``dtype`` casts every array (default: keep).
    """
    own = {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
    own = {k: v for k, v in own.items() if not any(re.fullmatch(p, k) for p in ignore)}
    flat, used, missing, bad_shape = {}, set(), [], []
    for path, leaf in flax_paths(params_shapes).items():
        key, name = torch_key_for(path, rules, len(leaf.shape))
        transform = TRANSFORMS[name]
        if key not in own:
            missing.append(f"{prefix}{key} {transform.torch_shape(tuple(leaf.shape))}")
            continue
        used.add(key)
        value = np.asarray(own[key])
        expected = transform.torch_shape(tuple(leaf.shape))
        if tuple(value.shape) != expected:
            bad_shape.append(f"{prefix}{key}: checkpoint {tuple(value.shape)}, expected {expected}")
            continue
        value = transform.to_flax(value)
        flat[path] = value.astype(dtype if dtype is not None else leaf.dtype)
    unexpected = sorted(set(own) - used)
    problems = []
    for title, items in (
        ("missing from checkpoint", missing),
        ("unexpected in checkpoint", [prefix + k for k in unexpected]),
        ("with wrong shape", bad_shape),
    ):
        if items:
            shown = "\n  ".join(items[:50]) + ("\n  ..." if len(items) > 50 else "")
            problems.append(f"{len(items)} keys {title}:\n  {shown}")
    if problems:
        raise ConversionError(f"checkpoint does not fit the {what}:\n" + "\n".join(problems))
    return _unflatten(flat)


def to_torch(params: Any, rules: Sequence[Rule], *, prefix: str = "") -> dict[str, np.ndarray]:
    """Flax params tree -> ``{prefix + torch_key: np.ndarray}`` in PyTorch layouts.

    ``nn.Partitioned`` boxes (logical axis names, as ``Module.init`` returns them) are unboxed first:
    they are metadata, not part of a key. Abstract leaves (``jax.eval_shape``) give
    ``ShapeDtypeStruct`` s of the PyTorch shape, so a tree's key manifest needs no memory."""
    out = {}
    for path, leaf in flax_paths(meta.unbox(params)).items():
        if isinstance(leaf, jax.ShapeDtypeStruct):
            key, name = torch_key_for(path, rules, len(leaf.shape))
            out[prefix + key] = jax.ShapeDtypeStruct(TRANSFORMS[name].torch_shape(tuple(leaf.shape)), leaf.dtype)
            continue
        value = np.asarray(jax.device_get(leaf))
        key, name = torch_key_for(path, rules, value.ndim)
        out[prefix + key] = np.require(TRANSFORMS[name].to_torch(value), requirements="C")
    return out
