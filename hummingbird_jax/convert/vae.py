"""PyTorch ``first_stage_model.*`` (LVDM/ldm ``AutoencoderKL``) ⇄ Flax VAE params.

The Flax modules carry the PyTorch attribute names, so the generic rules do the whole job: conv
kernels (1×1 ones included) use the conv2d layout and GroupNorm ``scale`` is ``weight``.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from flax.core import meta

from hummingbird_jax.convert.rules import (
    ConversionError,
    Rule,
    default_rules,
    flax_paths,
    from_torch,
    to_torch,
    torch_shapes,
)
from hummingbird_jax.models.vae import VAEConfig, vae_param_shapes

__all__ = ["VAE_PREFIX", "vae_rules", "vae_from_torch", "vae_to_torch", "vae_torch_shapes"]

VAE_PREFIX = "first_stage_model."
# A standalone ldm AutoencoderKL checkpoint also holds its training loss (LPIPS, discriminator).
_IGNORE = (r"loss\..*",)


def vae_rules() -> list[Rule]:
    return default_rules()


def _detect_prefix(state_dict: Mapping[str, Any]) -> str:
    return VAE_PREFIX if any(k.startswith(VAE_PREFIX) for k in state_dict) else ""


def vae_from_torch(state_dict: Mapping[str, np.ndarray], cfg: VAEConfig, *, prefix: str | None = None,
                   source: str = "checkpoint") -> dict:
    """Flax params for ``cfg`` from a PyTorch state dict.

    Accepts a whole VideoCrafter2/Hummingbird checkpoint (only ``first_stage_model.*`` is read; the
    U-Net, text encoder and schedule buffers are ignored) or the VAE's own tensors without prefix.
    ``prefix=None`` picks between the two. Every missing, unexpected or mis-shaped key is reported
    in one :class:`ConversionError`. Arrays are cast to ``cfg.param_dtype``.
    """
    if prefix is None:
        prefix = _detect_prefix(state_dict)
    return from_torch(state_dict, vae_param_shapes(cfg), vae_rules(), prefix=prefix, ignore=_IGNORE,
                      what=f"VAE (AutoencoderKL ch={cfg.ch}, ch_mult={list(cfg.ch_mult)}) from {source}")


def vae_to_torch(params: Any, cfg: VAEConfig, prefix: str = VAE_PREFIX) -> dict[str, np.ndarray]:
    """``{prefix + torch_key: array}`` in PyTorch layouts; checks ``params`` is shaped for ``cfg``."""
    params = meta.unbox(params)  # nn.Partitioned boxes are metadata, never part of a key
    expected = {p: tuple(s.shape) for p, s in flax_paths(vae_param_shapes(cfg)).items()}
    got = {p: tuple(getattr(v, "shape", np.shape(v))) for p, v in flax_paths(params).items()}
    if got != expected:
        problems = sorted(
            f"{p}: params {got.get(p, 'missing')}, expected {expected.get(p, 'none')}"
            for p in set(expected) | set(got) if got.get(p) != expected.get(p)
        )
        raise ConversionError(f"VAE params do not fit the config ({len(problems)} paths):\n  " + "\n  ".join(problems[:50]))
    return to_torch(params, vae_rules(), prefix=prefix)


def vae_torch_shapes(cfg: VAEConfig, prefix: str = VAE_PREFIX) -> dict[str, tuple]:
    """``{torch_key: shape}`` for ``cfg``, from eval_shape params (the ``keys_vae.tsv`` manifest)."""
    return torch_shapes(vae_param_shapes(cfg), vae_rules(), prefix)
