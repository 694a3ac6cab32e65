"""Whole VideoCrafter2 / Hummingbird checkpoints: U-Net, VAE and text encoder in one go.

An official checkpoint holds three namespaces (``model.diffusion_model.``, ``first_stage_model.``,
``cond_stage_model.model.``) plus schedule buffers, which are ignored. A bare U-Net state dict (no
namespace, e.g. a Hummingbird ``unet.safetensors``) converts to the U-Net alone.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

import numpy as np
import yaml

from hummingbird_jax.convert.unet import UNET_PREFIX, unet_from_torch, unet_to_torch
from hummingbird_jax.models.unet_config import UNet3DConfig

VAE_PREFIX = "first_stage_model."
TEXT_PREFIX = "cond_stage_model.model."


def _has(state_dict: Mapping[str, Any], prefix: str) -> bool:
    return any(k.startswith(prefix) for k in state_dict)


def text_config_from_state_dict(state_dict: Mapping[str, np.ndarray], prefix: str = TEXT_PREFIX,
                                head_width: int = 64):
    """OpenCLIP text tower shape read off the weights (heads assume OpenCLIP's 64-wide heads)."""
    from hummingbird_jax.models import CLIPTextConfig

    vocab, width = state_dict[prefix + "token_embedding.weight"].shape
    context_length = state_dict[prefix + "positional_embedding"].shape[0]
    layers = len({k[len(prefix):].split(".")[2] for k in state_dict if k.startswith(prefix + "transformer.resblocks.")})
    return CLIPTextConfig(width=int(width), heads=max(1, int(width) // head_width), layers=layers,
                          context_length=int(context_length), vocab_size=int(vocab))


def convert_checkpoint(state_dict: Mapping[str, np.ndarray], *, unet_config: UNet3DConfig,
                       yaml_path: str | None = None, text_config: Any = None,
                       dtype: Any = None) -> dict[str, tuple[Any, Any]]:
    """``{component: (params, config)}`` for every namespace present in ``state_dict``."""
    out: dict[str, tuple[Any, Any]] = {"unet": (unet_from_torch(state_dict, unet_config, dtype=dtype), unet_config)}
    if _has(state_dict, VAE_PREFIX):
        from hummingbird_jax.convert.vae import vae_from_torch
        from hummingbird_jax.models import VAEConfig

        vae_cfg = VAEConfig.sd_kl_f8()
        if yaml_path and _yaml_has(yaml_path, "first_stage_config"):
            vae_cfg = VAEConfig.from_lvdm_yaml(yaml_path)
        out["vae"] = (vae_from_torch(state_dict, vae_cfg, dtype=dtype), vae_cfg)
    if _has(state_dict, TEXT_PREFIX):
        from hummingbird_jax.convert.clip import text_encoder_from_torch

        text_cfg = text_config or text_config_from_state_dict(state_dict)
        out["text_encoder"] = (text_encoder_from_torch(state_dict, text_cfg, dtype=dtype), text_cfg)
    return out


def components_to_state_dict(components: Mapping[str, tuple[Any, Any]]) -> dict[str, np.ndarray]:
    """Official-layout state dict of the converted components (the inverse of :func:`convert_checkpoint`)."""
    state: dict[str, np.ndarray] = {}
    for name, (params, config) in components.items():
        if name == "unet":
            state.update(unet_to_torch(params, config, prefix=UNET_PREFIX))
        elif name == "vae":
            from hummingbird_jax.convert.vae import vae_to_torch

            state.update(vae_to_torch(params, config, prefix=VAE_PREFIX))
        elif name == "text_encoder":
            from hummingbird_jax.convert.clip import text_encoder_to_torch

            state.update(text_encoder_to_torch(params, prefix=TEXT_PREFIX))
        else:
            raise ValueError(f"unknown component {name!r}")
    return state


def _yaml_has(path: str, section: str) -> bool:
    if not os.path.isfile(path):
        return False
    with open(path) as fh:
        doc = yaml.safe_load(fh) or {}
    return section in ((doc.get("model") or {}).get("params") or {})
