"""InternVideo2-Stage2 checkpoint -> Flax params, one rule table.

Sources met in practice:

* the released ``InternVideo2-stage2_1b-224p-f4.pt``: ``{'module': {...}}`` (unwrapped by
  :func:`~hummingbird_jax.convert.checkpoint_io.load_torch_checkpoint`), the text tower under
  ``text_encoder.bert.`` beside its MLM head ``text_encoder.cls.``;
* the state dict of the feature model itself (``InternVideo2_Stage2`` of the demo code), the text
  tower under ``text_encoder.``; either may carry a DataParallel ``module.`` prefix.

What the features never read is skipped by name: the pre-training distillation heads
(``clip_decoder``, ``final_clip_decoder``, ``clip_pos_embed``, ``clip_img_pos_embed``), BERT layers from
``fusion_layer`` on, the pooler, MLM/ITM heads and the temperature. Everything else must match.

The release was trained at 4 frames; when the checkpoint's ``pos_embed`` has another number of time
rows than the configured model, it is resampled linearly along time (PyTorch's
``F.interpolate(mode='linear')``, as the original loader does); the class token row is kept.
"""

from __future__ import annotations

import os
from typing import Mapping

import numpy as np

from hummingbird_jax.convert.checkpoint_io import load_torch_checkpoint
from hummingbird_jax.convert.rules import ConversionError, Rule, default_rules, from_torch, torch_shapes
from hummingbird_jax.models.internvideo2 import InternVideo2Config, param_shapes

__all__ = ["internvideo2_rules", "ignored_patterns", "params_from_torch", "internvideo2_manifest",
           "load_internvideo2", "resample_time"]

_TEXT = "text_encoder."


def internvideo2_rules() -> list[Rule]:
    """Flax paths -> original names; the text tower's prefix is fixed per checkpoint by the caller."""
    return [
        Rule(r"vision_encoder/(cls_token|pos_embed|img_pos_embed)", r"vision_encoder/\1", "none"),
        *default_rules(),
    ]


def ignored_patterns(cfg: InternVideo2Config) -> list[str]:
    """Regexes (on names without ``module.``) of checkpoint entries the features never read."""
    later_layers = "|".join(str(i) for i in range(cfg.fusion_layer, max(cfg.bert.num_hidden_layers, 64)))
    return [
        r"vision_encoder\.(clip_decoder|final_clip_decoder)\..*",
        r"vision_encoder\.(clip_pos_embed|clip_img_pos_embed)",
        rf"text_encoder\.(bert\.)?encoder\.layer\.({later_layers})\..*",
        r"text_encoder\.(bert\.)?embeddings\.position_ids",
        r"text_encoder\.(bert\.)?pooler\..*",
        r"text_encoder\.cls\..*",
        r"itm_head\..*",
        r"temp",
    ]


def resample_time(pos_embed: np.ndarray, t_new: int, spatial: int) -> np.ndarray:
    """``(1, 1 + t·spatial, C)`` position embedding -> ``t_new`` time rows, linear, half-pixel centres
    (``F.interpolate(mode='linear', align_corners=False)``); the first (class) row is kept."""
    c = pos_embed.shape[-1]
    t_old = (pos_embed.shape[1] - 1) // spatial
    grid = pos_embed[0, 1:].reshape(t_old, spatial, c).astype(np.float64)
    src = np.clip((np.arange(t_new) + 0.5) * (t_old / t_new) - 0.5, 0.0, None)
    lo = np.minimum(np.floor(src).astype(int), t_old - 1)
    hi = np.minimum(lo + 1, t_old - 1)
    frac = (src - lo)[:, None, None]
    rows = (1.0 - frac) * grid[lo] + frac * grid[hi]
    out = np.concatenate([pos_embed[0, :1].astype(np.float64), rows.reshape(t_new * spatial, c)], axis=0)
    return out[None].astype(pos_embed.dtype)


def _strip_module(state_dict: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k.removeprefix("module."): v for k, v in state_dict.items()}


def _text_prefix(state_dict: Mapping[str, np.ndarray]) -> str:
    """``text_encoder.bert.`` (pre-training checkpoints) or ``text_encoder.`` (the feature model)."""
    return _TEXT + "bert." if any(k.startswith(_TEXT + "bert.") for k in state_dict) else _TEXT


def _fit_time(state_dict: dict, cfg: InternVideo2Config) -> dict:
    key = "vision_encoder.pos_embed"
    pos = state_dict.get(key)
    v = cfg.vision
    spatial = v.grid * v.grid
    if pos is None or np.ndim(pos) != 3 or pos.shape[1] == v.num_patches + 1:
        return state_dict
    rows = pos.shape[1] - 1
    if rows % spatial:
        raise ConversionError(f"{key} {tuple(pos.shape)}: {rows} patch rows are not a multiple of the "
                              f"configured {v.grid}x{v.grid} grid (a different img_size/patch_size?)")
    return {**state_dict, key: resample_time(np.asarray(pos), v.t_size, spatial)}


def params_from_torch(state_dict: Mapping[str, np.ndarray], cfg: InternVideo2Config, *, dtype=None) -> dict:
    """Flax params of :class:`~hummingbird_jax.models.internvideo2.InternVideo2` from an original state
    dict (with or without ``module.``); every missing, unexpected or mis-shaped key is reported at once."""
    sd = _strip_module(state_dict)
    text_prefix = _text_prefix(sd)
    if text_prefix != _TEXT:
        sd = {(_TEXT + k[len(text_prefix):] if k.startswith(text_prefix) else k): v for k, v in sd.items()}
    sd = _fit_time(sd, cfg)
    ignore = [p.replace(r"(bert\.)?", "") for p in ignored_patterns(cfg)]
    v, b = cfg.vision, cfg.bert
    what = (f"InternVideo2 (vision embed_dim={v.embed_dim} depth={v.depth} frames={v.num_frames}; BERT "
            f"hidden={b.hidden_size} layers<{cfg.fusion_layer}; embed_dim={cfg.embed_dim})")
    return from_torch(sd, param_shapes(cfg), internvideo2_rules(), ignore=ignore, what=what, dtype=dtype)


def internvideo2_manifest(cfg: InternVideo2Config | None = None) -> dict[str, tuple]:
    """``{original key: shape}`` of every parameter the features use (feature-model names), from
    ``eval_shape``; default the stage-2 1B model."""
    return torch_shapes(param_shapes(cfg or InternVideo2Config.stage2_1b()), internvideo2_rules())


def load_internvideo2(path: str | os.PathLike, cfg: InternVideo2Config | None = None, *, dtype=None) -> dict:
    """Params from ``InternVideo2-stage2_1b-224p-f4.pt`` (or any checkpoint of the same layout)."""
    try:
        return params_from_torch(load_torch_checkpoint(path), cfg or InternVideo2Config.stage2_1b(), dtype=dtype)
    except ConversionError as err:
        raise ConversionError(f"{os.fspath(path)}: {err}") from None
