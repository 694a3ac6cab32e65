"""U-Net weights: official ``model.diffusion_model.*`` state dicts <-> Flax params."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from hummingbird_jax.convert.rules import Rule, default_rules, from_torch, to_torch, torch_shapes
from hummingbird_jax.models.unet3d import unet_param_shapes
from hummingbird_jax.models.unet_config import UNet3DConfig

UNET_PREFIX = "model.diffusion_model."

# init_attn's projections are Conv1d(k=1) in the checkpoint; every other projection is a Linear. The
# relative-position tables (use_relative_position) are stored as they are, (distances, dim_head).
UNET_RULES: list[Rule] = [
    Rule(r"(init_attn\.0/proj_(?:in|out))/kernel", r"\1/weight", "conv1d_as_dense"),
    Rule(r"(.*/relative_position_[kv])/embeddings_table", r"\1/embeddings_table", "none"),
    *default_rules(),
]


def _split_prefix(state_dict: Mapping[str, np.ndarray]) -> str:
    return UNET_PREFIX if any(k.startswith(UNET_PREFIX) for k in state_dict) else ""


def unet_from_torch(state_dict: Mapping[str, np.ndarray], config: UNet3DConfig, *, dtype: Any = None) -> dict:
    """Flax params for ``config`` from an official state dict (with or without ``model.diffusion_model.``).

    Keys outside the U-Net namespace (VAE, text encoder, schedule buffers) are ignored when the prefix
    is present. Raises one ``ConversionError`` listing every missing, unexpected or mis-shaped key.
    """
    prefix = _split_prefix(state_dict)
    return from_torch(state_dict, unet_param_shapes(config), UNET_RULES, prefix=prefix,
                      what=f"U-Net ({_describe(config)})", dtype=dtype)


def unet_to_torch(params: Any, config: UNet3DConfig, *, prefix: str = UNET_PREFIX) -> dict[str, np.ndarray]:
    """Official-layout state dict (``model.diffusion_model.*``, ``temopral_conv`` spelling kept)."""
    del config  # the params tree carries the structure; kept for a symmetric signature
    return to_torch(params, UNET_RULES, prefix=prefix)


def unet_torch_shapes(config: UNet3DConfig, *, prefix: str = UNET_PREFIX) -> dict[str, tuple]:
    """``{key: shape}`` of the official state dict for ``config``, from abstract params only."""
    return torch_shapes(unet_param_shapes(config), UNET_RULES, prefix=prefix)


def _describe(config: UNet3DConfig) -> str:
    middle = "middle block" if config.use_middle_block else "no middle block"
    return f"{config.num_res_blocks} res blocks per level, {middle}, model_channels={config.model_channels}"
