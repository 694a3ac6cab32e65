"""DOVER / DOVER-Mobile checkpoints (``DOVER.pth``, ``DOVER-Mobile.pth``) <-> Flax params.

The released files are plain state dicts of the official ``DOVER`` module
(``technical_backbone.*``, ``aesthetic_backbone.*``, ``technical_head.*``, ``aesthetic_head.*``),
read through the restricted unpickler. Flax module names mirror the PyTorch attribute names, so the
table only names the leaves that are not kernels/scales: the relative-position tables, ConvNeXt-V2's
GRN parameters (stored ``(1, 1, 1, C)``) and the layer-scale ``gamma``. Buffers
(``relative_position_index``, rebuilt from the window size) and ConvNeXt-V2's unused classifier
(``*_backbone.head``) are skipped.
"""

from __future__ import annotations

import os
from typing import Mapping

import jax
import numpy as np

from hummingbird_jax.convert.checkpoint_io import load_torch_checkpoint
from hummingbird_jax.convert.rules import ConversionError, Rule, default_rules, from_torch, to_torch, torch_shapes
from hummingbird_jax.models.convnext3d import ConvNeXt3DConfig
from hummingbird_jax.models.dover import BRANCHES, DOVERConfig, init_dover_params

__all__ = ["dover_rules", "dover_params_from_torch", "dover_params_to_torch", "dover_manifest", "load_dover", "ignored_keys"]


def dover_rules() -> list[Rule]:
    """Flax DOVER paths -> official state-dict names."""
    return [
        Rule(r"(.*)/(relative_position_bias_table|fragment_position_bias_table)", r"\1/\2", "none"),
        Rule(r"(.*)/grn/(gamma|beta)", r"\1/grn/\2", "none"),
        Rule(r"(.*)/gamma", r"\1/gamma", "none"),
        *default_rules(),
    ]


def ignored_keys(cfg: DOVERConfig) -> list[str]:
    """State-dict entries that carry no parameter of ours (regexes)."""
    patterns = [r".*\.relative_position_index"]
    for branch in BRANCHES:
        if isinstance(getattr(cfg, branch), ConvNeXt3DConfig) and getattr(cfg, branch).version == 2:
            patterns.append(rf"{branch}_backbone\.head\.(weight|bias)")
    return patterns


def _shapes(cfg: DOVERConfig):
    return jax.eval_shape(lambda: init_dover_params(cfg))


def dover_params_from_torch(state_dict: Mapping[str, np.ndarray], cfg: DOVERConfig, *, dtype=None) -> dict:
    """Params for :class:`~hummingbird_jax.models.dover.DOVER` from an official state dict (arrays or
    torch tensors). Every missing, unexpected or mis-shaped key is reported in one error."""
    arrays = {k: v.detach().cpu().numpy() if hasattr(v, "detach") else np.asarray(v) for k, v in state_dict.items()}
    return from_torch(
        arrays, _shapes(cfg), dover_rules(), ignore=ignored_keys(cfg), what=_describe(cfg), dtype=dtype,
    )


def dover_params_to_torch(params) -> dict[str, np.ndarray]:
    """Params -> official names and layouts (without the rebuilt buffers)."""
    return to_torch(params, dover_rules())


def dover_manifest(cfg: DOVERConfig) -> dict[str, tuple]:
    """``{official key: shape}`` of every parameter, from abstract shapes only."""
    return torch_shapes(_shapes(cfg), dover_rules())


def load_dover(path: str | os.PathLike, cfg: DOVERConfig, *, dtype=None) -> dict:
    """Params from a ``DOVER.pth``-style file; mismatches name the file and every offending key."""
    try:
        return dover_params_from_torch(load_torch_checkpoint(path), cfg, dtype=dtype)
    except ConversionError as err:
        raise ConversionError(f"{os.fspath(path)}: {err}") from None


def _describe(cfg: DOVERConfig) -> str:
    parts = [f"{b} {type(getattr(cfg, b)).__name__.removesuffix('Config')}" for b in BRANCHES]
    return f"DOVER ({', '.join(parts)}, head {cfg.head_in_channels}->{cfg.head_hidden_channels})"
