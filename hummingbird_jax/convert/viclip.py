"""ViCLIP <-> Flax conversion: the released ``ViClip-InternVid-10M-FLT.pth`` and its state dicts.

The release is ``torch.save({'model': state_dict})``, which the official loader reads with
``torch.load(path)['model']``; the names are those of the official ``ViCLIP`` module
(``vision_encoder.*``, ``text_encoder.*``, ``temp``). A DataParallel ``module.`` or a ``model.``
prefix is recognised too. ``class_embedding``, the position embeddings, ``proj`` and
``text_projection`` are raw parameters already in ``x @ W`` layout and are copied as they are; the 3-D
patch convolution uses the ``conv3d`` layout; each block's packed attention input projection is one
``Dense`` whose kernel is ``in_proj_weight`` transposed.
"""

from __future__ import annotations

import os
from typing import Mapping, Optional

import jax
import jax.numpy as jnp
import numpy as np

from hummingbird_jax.convert.checkpoint_io import load_torch_checkpoint
from hummingbird_jax.convert.rules import ConversionError, Rule, default_rules, from_torch, to_torch, torch_shapes
from hummingbird_jax.models.viclip import ViCLIP, ViCLIPConfig

__all__ = ["viclip_rules", "params_from_torch", "params_to_torch", "viclip_manifest", "param_shapes", "load_viclip"]

_PREFIXES = ("", "module.", "model.")
# Buffers some exporters write although no module registers them.
_IGNORED = (r".*attn_mask",)


def viclip_rules() -> list[Rule]:
    """Flax ``ViCLIP`` paths -> official state-dict names."""
    return [
        Rule(r"temp", "temp", "none"),
        Rule(
            r"vision_encoder/(class_embedding|positional_embedding|temporal_positional_embedding|proj)",
            r"vision_encoder/\1", "none",
        ),
        Rule(r"text_encoder/(positional_embedding|text_projection)", r"text_encoder/\1", "none"),
        Rule(r"(.*)/attn/in_proj/kernel", r"\1/attn/in_proj_weight", "linear"),
        Rule(r"(.*)/attn/in_proj/bias", r"\1/attn/in_proj_bias", "none"),
        *default_rules(),
    ]


def param_shapes(cfg: ViCLIPConfig):
    """The params tree of :class:`ViCLIP` as ``ShapeDtypeStruct`` s (nothing allocated)."""
    frames = jnp.zeros((1, cfg.input_frames, cfg.input_resolution, cfg.input_resolution, 3), jnp.float32)
    tokens = jnp.zeros((1, cfg.context_length), jnp.int32)
    return jax.eval_shape(lambda: ViCLIP(cfg).init(jax.random.key(0), frames, tokens))["params"]


def _unwrap(state_dict: Mapping) -> Mapping[str, np.ndarray]:
    """Accept the release's in-memory ``{'model': {...}}`` (or ``{'state_dict': {...}}``) as well as a flat dict."""
    for wrapper in ("model", "state_dict"):
        inner = state_dict.get(wrapper)
        if isinstance(inner, Mapping):
            return inner
    return state_dict


def params_from_torch(state_dict: Mapping[str, np.ndarray], cfg: ViCLIPConfig, *, prefix: Optional[str] = None,
                      dtype=None) -> dict:
    """Params for :class:`ViCLIP` from an official state dict (numpy arrays or torch tensors).

    ``prefix=None`` recognises no prefix, ``module.`` or ``model.``. Missing, unexpected and
    mis-shaped keys are all listed in one :class:`ConversionError`.
    """
    state_dict = _unwrap(state_dict)
    if prefix is None:
        prefix = next((p for p in _PREFIXES if p + "vision_encoder.conv1.weight" in state_dict), "")
    arrays = {k: _as_numpy(v) for k, v in state_dict.items()}
    return from_torch(
        arrays, param_shapes(cfg), viclip_rules(), prefix=prefix, ignore=_IGNORED,
        what=f"ViCLIP {_describe(cfg)}", dtype=dtype,
    )


def params_to_torch(params, *, prefix: str = "") -> dict[str, np.ndarray]:
    """ViCLIP params -> official state-dict names and layouts."""
    return to_torch(params, viclip_rules(), prefix=prefix)


def viclip_manifest(cfg: ViCLIPConfig | None = None) -> dict[str, tuple]:
    """``{official key: shape}`` from ``eval_shape``; default ViCLIP-L/14."""
    return torch_shapes(param_shapes(cfg or ViCLIPConfig.vit_l14()), viclip_rules())


def load_viclip(path: str | os.PathLike, cfg: ViCLIPConfig | None = None, *, dtype=None) -> dict:
    """Params from ``ViClip-InternVid-10M-FLT.pth`` (read without PyTorch) or a ``.safetensors`` export."""
    cfg = cfg or ViCLIPConfig.vit_l14()
    try:
        return params_from_torch(load_torch_checkpoint(path), cfg, dtype=dtype)
    except ConversionError as err:
        raise ConversionError(f"{os.fspath(path)}: {err}") from None


def _as_numpy(value) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor handed over in memory
        value = value.detach().cpu().float().numpy()
    return np.asarray(value)


def _describe(cfg: ViCLIPConfig) -> str:
    vision = ("input_resolution", "patch_size", "width", "layers", "heads", "kernel_size", "num_frames")
    text = ("transformer_width", "transformer_layers", "transformer_heads", "context_length", "embed_dim")
    return "(" + ", ".join(f"{f}={getattr(cfg, f)}" for f in vision + text) + ")"
