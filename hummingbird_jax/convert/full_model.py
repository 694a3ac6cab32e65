"""Whole VideoCrafter2 / Hummingbird checkpoints: U-Net, VAE and text encoder in one go.

An official checkpoint holds three namespaces (``model.diffusion_model.``, ``first_stage_model.``,
``cond_stage_model.model.``) plus schedule buffers, which are ignored. A bare U-Net state dict (no
namespace, e.g. a Hummingbird ``unet.safetensors``) converts to the U-Net alone.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Mapping

import jax
import numpy as np
import yaml

from hummingbird_jax import registry
from hummingbird_jax.convert.clip import text_encoder_from_torch, text_encoder_to_torch
from hummingbird_jax.convert.unet import UNET_PREFIX, unet_from_torch, unet_to_torch
from hummingbird_jax.convert.vae import vae_from_torch, vae_to_torch
from hummingbird_jax.models import CLIPTextConfig, VAEConfig
from hummingbird_jax.models.unet_config import UNet3DConfig

VAE_PREFIX = "first_stage_model."
TEXT_PREFIX = "cond_stage_model.model."


def _has(state_dict: Mapping[str, Any], prefix: str) -> bool:
    return any(k.startswith(prefix) for k in state_dict)


def text_config_from_state_dict(state_dict: Mapping[str, np.ndarray], prefix: str = TEXT_PREFIX,
                                heads: int | None = None, head_width: int = 64):
    """OpenCLIP text tower shape read off the weights (heads assume OpenCLIP's 64-wide heads)."""
    vocab, width = state_dict[prefix + "token_embedding.weight"].shape
    context_length = state_dict[prefix + "positional_embedding"].shape[0]
    layers = len({k[len(prefix):].split(".")[2] for k in state_dict if k.startswith(prefix + "transformer.resblocks.")})
    heads = heads or max(1, int(width) // head_width)
    return CLIPTextConfig(width=int(width), heads=heads, layers=layers,
                          context_length=int(context_length), vocab_size=int(vocab))


def unet_preset_from_keys(keys) -> str:
    """Which U-Net an official state dict holds, from its block indices: ``vc2`` has 12 input blocks,
    the students 8; the 0.9B keeps the middle block, the 0.7B does not."""
    keys = [k[len(UNET_PREFIX):] for k in keys if k.startswith(UNET_PREFIX)]
    if not keys:
        raise ValueError(f"no '{UNET_PREFIX}*' keys: not a VideoCrafter2/Hummingbird checkpoint")
    if any(k.startswith("input_blocks.11.") for k in keys):
        return "vc2"
    return "hb-0.9b" if any(k.startswith("middle_block.") for k in keys) else "hb-0.7b"


def time_cond_dim_from_state_dict(state_dict: Mapping[str, np.ndarray]) -> int | None:
    """Width of the guidance-embedding projection (stage-2 students), or ``None`` when absent."""
    weight = state_dict.get(f"{UNET_PREFIX}time_cond_proj.weight")
    if weight is None:
        weight = state_dict.get("time_cond_proj.weight")  # a bare U-Net state dict
    return None if weight is None else int(np.shape(weight)[1])


def unet_config_for_checkpoint(state_dict: Mapping[str, np.ndarray], config: str | None = None) -> UNet3DConfig:
    """The U-Net config of an official checkpoint: from its YAML, a preset name, or (``None``) the
    preset recognised from the keys. ``time_cond_proj`` always follows the checkpoint, which is the
    only reliable witness of whether it is a stage-2 student."""
    cond = time_cond_dim_from_state_dict(state_dict)
    if config is not None and str(config).endswith((".yaml", ".yml")):
        return UNet3DConfig.from_lvdm_yaml(str(config), time_cond_proj_dim=cond)
    return registry.unet(str(config) if config is not None else unet_preset_from_keys(state_dict),
                         time_cond_proj_dim=cond)


def convert_checkpoint(state_dict: Mapping[str, np.ndarray], *, unet_config: UNet3DConfig | None = None,
                       yaml_path: str | None = None, vae_config: Any = None, text_config: Any = None,
                       dtype: Any = None, source: str = "checkpoint") -> dict[str, tuple[Any, Any]]:
    """``{component: (params, config)}`` for every namespace present in ``state_dict``.

    ``unet_config=None`` recognises the U-Net from the keys (:func:`unet_config_for_checkpoint`). The
    VAE config is ``vae_config``, else the YAML's ``first_stage_config``, else the SD kl-f8 one. The
    text config is ``text_config``, else read off the weights; its ``embed_dim`` is taken from the
    checkpoint's ``text_projection`` when unset, so a saved directory restores the same shapes.
    """
    unet_config = unet_config or unet_config_for_checkpoint(state_dict, yaml_path)
    out: dict[str, tuple[Any, Any]] = {"unet": (unet_from_torch(state_dict, unet_config, dtype=dtype), unet_config)}
    if _has(state_dict, VAE_PREFIX):
        vae_cfg = vae_config
        if vae_cfg is None:
            vae_cfg = VAEConfig.sd_kl_f8()
            if yaml_path and _yaml_has(yaml_path, "first_stage_config"):
                vae_cfg = VAEConfig.from_lvdm_yaml(yaml_path)
        params = vae_from_torch(state_dict, vae_cfg, prefix=VAE_PREFIX, source=source)
        if dtype is not None:
            params = jax.tree_util.tree_map(lambda a: np.asarray(a).astype(dtype), params)
        out["vae"] = (params, vae_cfg)
    if _has(state_dict, TEXT_PREFIX):
        text_cfg = text_config or text_config_from_state_dict(state_dict)
        projection = state_dict.get(TEXT_PREFIX + "text_projection")
        if text_cfg.embed_dim is None and projection is not None and np.ndim(projection) == 2:
            text_cfg = dataclasses.replace(text_cfg, embed_dim=int(np.shape(projection)[1]))
        out["text_encoder"] = (text_encoder_from_torch(state_dict, text_cfg, prefix=TEXT_PREFIX, dtype=dtype),
                               text_cfg)
    return out


def components_to_state_dict(components: Mapping[str, tuple[Any, Any]]) -> dict[str, np.ndarray]:
    """Official-layout state dict of the converted components (the inverse of :func:`convert_checkpoint`)."""
    state: dict[str, np.ndarray] = {}
    for name, (params, config) in components.items():
        if name == "unet":
            state.update(unet_to_torch(params, config, prefix=UNET_PREFIX))
        elif name == "vae":
            state.update(vae_to_torch(params, config, prefix=VAE_PREFIX))
        elif name == "text_encoder":
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
