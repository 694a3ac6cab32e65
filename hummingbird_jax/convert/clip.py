"""OpenCLIP <-> Flax conversion: the VC2 text tower (``cond_stage_model.model.*``) and whole CLIPs.

Sources met in practice:

* VideoCrafter2 / Hummingbird checkpoints: the text tower under ``cond_stage_model.model.`` (the
  vision tower was deleted by ``FrozenOpenCLIPEmbedder``), every block present although the
  context stops one block early;
* open_clip state dicts (``open_clip_pytorch_model.bin`` / ``.safetensors``): ``visual.*`` plus the
  text tower at top level;
* HPSv2.1's ``HPS_v2.1_compressed.pt``: ``{'state_dict': <open_clip CLIP>}``, unwrapped by
  :func:`~hummingbird_jax.convert.checkpoint_io.load_torch_checkpoint`; DataParallel ``module.``
  prefixes are recognised too;
* OpenAI CLIP releases (``ViT-B-32.pt``, ``ViT-L-14.pt``): TorchScript archives whose module tree
  keeps parameters as plain attributes; only the image tower (``visual.*``, same names as OpenCLIP)
  is read, by :func:`load_openai_clip_visual`;
* DINO (``dino_vitbase16_pretrain.pth``): a plain state dict in timm's ViT names
  (``patch_embed.proj``, ``blocks.{i}.attn.qkv``, ``norm``), mapped onto the same Flax tower by
  :func:`dino_rules`; its ``cls_token`` / ``pos_embed`` carry leading unit axes that are dropped.

OpenCLIP stores ``positional_embedding``, ``text_projection``, ``class_embedding`` and ``proj`` as raw
parameters already in ``x @ W`` layout, so they are copied as they are; the packed attention input
projection is one ``Dense`` (``in_proj``) whose kernel is ``in_proj_weight`` transposed.
"""

from __future__ import annotations

import dataclasses
import os
import zipfile
from typing import Mapping, Optional

import jax
import jax.numpy as jnp
import numpy as np

from hummingbird_jax.convert.checkpoint_io import PickledObject, _load_zip_pickle, load_torch_checkpoint
from hummingbird_jax.convert.rules import ConversionError, Rule, default_rules, from_torch, to_torch, torch_shapes
from hummingbird_jax.models.clip import CLIP, CLIPConfig, CLIPTextConfig, CLIPTextEncoder, CLIPVisionConfig, CLIPVisionEncoder

__all__ = [
    "TEXT_ENCODER_PREFIX",
    "text_encoder_rules",
    "clip_rules",
    "text_encoder_from_torch",
    "text_encoder_to_torch",
    "text_encoder_manifest",
    "clip_from_torch",
    "clip_to_torch",
    "clip_manifest",
    "load_clip",
    "vision_rules",
    "dino_rules",
    "vision_from_torch",
    "dino_from_torch",
    "vision_manifest",
    "load_openai_clip_visual",
    "load_dino",
]

TEXT_ENCODER_PREFIX = "cond_stage_model.model."
_CLIP_PREFIXES = ("", "module.", "model.")
# Non-persistent or unused entries some exporters still write.
_IGNORED = (r"attn_mask", r"visual\.attn_mask")


def _block_rules() -> list[Rule]:
    return [
        Rule(r"(.*)/attn/in_proj/kernel", r"\1/attn/in_proj_weight", "linear"),
        Rule(r"(.*)/attn/in_proj/bias", r"\1/attn/in_proj_bias", "none"),
    ]


def text_encoder_rules() -> list[Rule]:
    """Flax text tower paths -> OpenCLIP text names (no prefix)."""
    return [
        Rule(r"positional_embedding", "positional_embedding", "none"),
        Rule(r"text_projection", "text_projection", "none"),
        *_block_rules(),
        *default_rules(),
    ]


def clip_rules() -> list[Rule]:
    """Flax ``CLIP`` paths (``visual/…``, ``text/…``) -> open_clip names (text tower at top level)."""
    text = [Rule("text/" + r.flax_pattern, r.torch_key, r.transform) for r in text_encoder_rules()]
    visual = [
        Rule(r"visual/(class_embedding|positional_embedding|proj)", r"visual/\1", "none"),
        *_block_rules(),
        *default_rules(),
    ]
    return text + visual


def _detect_prefix(state_dict: Mapping[str, np.ndarray], candidates, probe: str) -> str:
    """The first candidate namespace holding ``probe``; none found -> no prefix (errors then list keys)."""
    return next((prefix for prefix in candidates if prefix + probe in state_dict), "")


def _unwrap(state_dict: Mapping) -> Mapping[str, np.ndarray]:
    """Accept an in-memory ``{'state_dict': {...}}`` (HPSv2.1's layout) as well as a flat state dict."""
    inner = state_dict.get("state_dict") if isinstance(state_dict, Mapping) else None
    return inner if isinstance(inner, Mapping) else state_dict


def _with_embed_dim(cfg: CLIPTextConfig, state_dict, prefix: str) -> CLIPTextConfig:
    """Fill ``embed_dim=None`` from the checkpoint's ``text_projection`` (the context does not use it)."""
    if cfg.embed_dim is not None:
        return cfg
    proj = state_dict.get(prefix + "text_projection")
    if proj is None or np.ndim(proj) != 2:
        return cfg
    return dataclasses.replace(cfg, embed_dim=int(np.shape(proj)[1]))


def text_encoder_from_torch(
    state_dict: Mapping[str, np.ndarray],
    cfg: CLIPTextConfig,
    *,
    prefix: Optional[str] = None,
    dtype=None,
) -> dict:
    """Params for :class:`CLIPTextEncoder` from a VC2/Hummingbird checkpoint or an open_clip state dict.

    ``prefix=None`` picks ``cond_stage_model.model.`` when such keys exist, else none (open_clip names;
    ``visual.*`` is then skipped). Other namespaces of a full checkpoint are ignored. Returns the params
    dict (no ``'params'`` wrapper). ``cfg.embed_dim=None`` takes the projection size from the checkpoint.
    """
    state_dict = _unwrap(state_dict)
    if prefix is None:
        prefix = _detect_prefix(state_dict, (TEXT_ENCODER_PREFIX, ""), "token_embedding.weight")
    cfg = _with_embed_dim(cfg, state_dict, prefix)
    shapes = jax.eval_shape(
        lambda: CLIPTextEncoder(cfg).init(jax.random.key(0), jnp.zeros((1, cfg.context_length), jnp.int32))
    )["params"]
    ignore = list(_IGNORED)
    if prefix == "":
        # An open_clip state dict also holds the image tower; a bare dict may hold other models' keys.
        ignore += [r"visual\..*", r"(model|first_stage_model|cond_stage_model|model_ema)\..*"]
    return from_torch(
        state_dict, shapes, text_encoder_rules(), prefix=prefix, ignore=ignore,
        what=f"OpenCLIP text tower {_describe(cfg)}", dtype=dtype,
    )


def text_encoder_to_torch(params, *, prefix: str = TEXT_ENCODER_PREFIX) -> dict[str, np.ndarray]:
    """Text tower params -> ``{prefix + name: array}`` in PyTorch layout (VC2 namespace by default)."""
    return to_torch(params, text_encoder_rules(), prefix=prefix)


def text_encoder_manifest(
    cfg: CLIPTextConfig | None = None, *, prefix: str = TEXT_ENCODER_PREFIX
) -> dict[str, tuple]:
    """``{torch_key: shape}`` of a text tower from ``eval_shape`` (nothing allocated); default ViT-H-14."""
    cfg = cfg or CLIPTextConfig.vit_h_14()
    shapes = jax.eval_shape(
        lambda: CLIPTextEncoder(cfg).init(jax.random.key(0), jnp.zeros((1, cfg.context_length), jnp.int32))
    )["params"]
    return torch_shapes(shapes, text_encoder_rules(), prefix)


def _clip_shapes(cfg: CLIPConfig):
    image = jnp.zeros((1, cfg.vision.image_size, cfg.vision.image_size, 3), jnp.float32)
    tokens = jnp.zeros((1, cfg.text.context_length), jnp.int32)
    return jax.eval_shape(lambda: CLIP(cfg).init(jax.random.key(0), image, tokens))["params"]


def clip_from_torch(
    state_dict: Mapping[str, np.ndarray],
    cfg: CLIPConfig,
    *,
    prefix: Optional[str] = None,
    dtype=None,
) -> dict:
    """Params for :class:`CLIP` from an open_clip state dict (``visual.*`` + text tower names), flat or
    wrapped in ``{'state_dict': ...}``.

    ``prefix=None`` recognises no prefix, ``module.`` (DataParallel) or ``model.``.
    """
    state_dict = _unwrap(state_dict)
    if prefix is None:
        prefix = _detect_prefix(state_dict, _CLIP_PREFIXES, "visual.conv1.weight")
    return from_torch(
        state_dict, _clip_shapes(cfg), clip_rules(), prefix=prefix, ignore=_IGNORED,
        what=f"OpenCLIP CLIP (embed_dim {cfg.embed_dim}, vision {_describe(cfg.vision)}, text {_describe(cfg.text)})",
        dtype=dtype,
    )


def clip_to_torch(params, *, prefix: str = "") -> dict[str, np.ndarray]:
    """CLIP params -> open_clip state dict names and layouts."""
    return to_torch(params, clip_rules(), prefix=prefix)


def clip_manifest(cfg: CLIPConfig | None = None, *, prefix: str = "") -> dict[str, tuple]:
    """``{torch_key: shape}`` of a whole CLIP from ``eval_shape``; default ViT-H-14."""
    return torch_shapes(_clip_shapes(cfg or CLIPConfig.vit_h_14()), clip_rules(), prefix)


def load_clip(path: str | os.PathLike, cfg: CLIPConfig | None = None, *, dtype=None) -> dict:
    """CLIP params from a file: open_clip ``.bin``/``.safetensors`` or HPSv2.1's ``{'state_dict': …}`` ``.pt``."""
    try:
        return clip_from_torch(load_torch_checkpoint(path), cfg or CLIPConfig.vit_h_14(), dtype=dtype)
    except ConversionError as err:
        raise ConversionError(f"{os.fspath(path)}: {err}") from None


def _describe(cfg) -> str:
    fields = ("width", "heads", "layers", "patch_size", "image_size", "embed_dim")
    return "(" + ", ".join(f"{f}={getattr(cfg, f)}" for f in fields if hasattr(cfg, f)) + ")"


def vision_rules() -> list[Rule]:
    """Flax :class:`CLIPVisionEncoder` paths -> OpenCLIP / OpenAI image-tower names (without ``visual.``)."""
    return [Rule(r"(class_embedding|positional_embedding|proj)", r"\1", "none"), *_block_rules(), *default_rules()]


def _renamed(flax_module: str, torch_module: str) -> list[Rule]:
    """Rules for one module whose PyTorch name differs: kernel/scale -> weight, bias -> bias."""
    return [
        Rule(flax_module + r"/kernel", torch_module + "/weight"),
        Rule(flax_module + r"/scale", torch_module + "/weight", "none"),
        Rule(flax_module + r"/bias", torch_module + "/bias", "none"),
    ]


def dino_rules() -> list[Rule]:
    """Flax :class:`CLIPVisionEncoder` paths -> DINO (timm ViT) names."""
    block = r"transformer/resblocks\.(\d+)"
    return [
        *_renamed(r"conv1", "patch_embed.proj"),
        Rule(r"class_embedding", "cls_token", "none"),
        Rule(r"positional_embedding", "pos_embed", "none"),
        *_renamed(block + r"/ln_1", r"blocks.\1.norm1"),
        *_renamed(block + r"/ln_2", r"blocks.\1.norm2"),
        Rule(block + r"/attn/in_proj/kernel", r"blocks.\1.attn.qkv.weight", "linear"),
        Rule(block + r"/attn/in_proj/bias", r"blocks.\1.attn.qkv.bias", "none"),
        *_renamed(block + r"/attn/out_proj", r"blocks.\1.attn.proj"),
        *_renamed(block + r"/mlp\.c_fc", r"blocks.\1.mlp.fc1"),
        *_renamed(block + r"/mlp\.c_proj", r"blocks.\1.mlp.fc2"),
        *_renamed(r"ln_post", "norm"),
    ]


def _vision_shapes(cfg: CLIPVisionConfig, embed_dim: Optional[int]):
    image = jnp.zeros((1, cfg.image_size, cfg.image_size, 3), jnp.float32)
    return jax.eval_shape(lambda: CLIPVisionEncoder(cfg, embed_dim).init(jax.random.key(0), image))["params"]


def vision_from_torch(
    state_dict: Mapping[str, np.ndarray], cfg: CLIPVisionConfig, embed_dim: Optional[int] = None, *,
    prefix: Optional[str] = None, dtype=None,
) -> dict:
    """Params for a stand-alone :class:`CLIPVisionEncoder` from a whole OpenAI / OpenCLIP CLIP state dict
    (the text tower is skipped). ``embed_dim=None`` takes the projection width from ``visual.proj``."""
    state_dict = _unwrap(state_dict)
    if prefix is None:
        prefix = _detect_prefix(state_dict, tuple(p + "visual." for p in _CLIP_PREFIXES), "conv1.weight") or "visual."
    if embed_dim is None and cfg.projection and np.ndim(state_dict.get(prefix + "proj")) == 2:
        embed_dim = int(np.shape(state_dict[prefix + "proj"])[1])
    return from_torch(
        state_dict, _vision_shapes(cfg, embed_dim), vision_rules(), prefix=prefix, ignore=_IGNORED,
        what=f"CLIP image tower {_describe(cfg)}", dtype=dtype,
    )


def dino_from_torch(state_dict: Mapping[str, np.ndarray], cfg: CLIPVisionConfig, *, dtype=None) -> dict:
    """Params for a DINO :class:`CLIPVisionEncoder` from a DINO state dict (``teacher`` / ``student``
    training checkpoints and their ``module.`` / ``backbone.`` prefixes are unwrapped; ``head.*``
    of a fine-tuned model is ignored)."""
    for wrapper in ("teacher", "state_dict", "model"):
        if isinstance(state_dict.get(wrapper), Mapping):
            state_dict = state_dict[wrapper]
    prefix = _detect_prefix(state_dict, ("", "module.", "backbone.", "module.backbone."), "patch_embed.proj.weight")
    flat = {}
    for key, value in state_dict.items():
        if key in (prefix + "cls_token", prefix + "pos_embed") and np.ndim(value) == 3 and np.shape(value)[0] == 1:
            value = np.asarray(value)[0]  # (1, 1, D) / (1, N+1, D) -> the Flax (D,) / (N+1, D)
            value = value[0] if key.endswith("cls_token") else value
        flat[key] = value
    return from_torch(
        flat, _vision_shapes(cfg, None), dino_rules(), prefix=prefix,
        ignore=(r"head\..*", r"(dino_)?head\..*"), what=f"DINO ViT {_describe(cfg)}", dtype=dtype,
    )


def vision_manifest(cfg: CLIPVisionConfig, embed_dim: Optional[int] = None, *, dino: bool = False) -> dict[str, tuple]:
    """``{torch_key: shape}`` of an image tower from ``eval_shape`` (Flax layout for DINO's unit axes)."""
    if dino:
        return torch_shapes(_vision_shapes(cfg, None), dino_rules())
    return torch_shapes(_vision_shapes(cfg, embed_dim), vision_rules(), "visual.")


def _torchscript_tensors(obj, prefix: str, out: dict) -> None:
    """Walk a TorchScript module tree, whose parameters are plain attributes (not ``_parameters``)."""
    state = obj.state if isinstance(obj, PickledObject) and isinstance(obj.state, dict) else {}
    for name, value in state.items():
        if isinstance(value, np.ndarray):
            out[prefix + name] = value
        elif isinstance(value, PickledObject):
            _torchscript_tensors(value, f"{prefix}{name}.", out)


def _read_clip_state_dict(path: str) -> dict:
    """A CLIP state dict from a plain checkpoint or an OpenAI TorchScript release, read without running it."""
    state_dict = load_torch_checkpoint(path)
    if any(k.endswith("conv1.weight") for k in state_dict):
        return state_dict
    out: dict = {}
    if zipfile.is_zipfile(path):  # just read as a zip pickle: walk it again as a TorchScript tree
        _torchscript_tensors(_load_zip_pickle(path), "", out)
    return out or state_dict


def load_openai_clip_visual(path: str | os.PathLike, cfg: CLIPVisionConfig, *, dtype=None) -> dict:
    """Image-tower params from an OpenAI CLIP release (TorchScript ``.pt``) or any CLIP state dict file."""
    path = os.fspath(path)
    try:
        return vision_from_torch(_read_clip_state_dict(path), cfg, dtype=dtype)
    except ConversionError as err:
        raise ConversionError(f"{path}: {err}") from None


def load_dino(path: str | os.PathLike, cfg: CLIPVisionConfig | None = None, *, dtype=None) -> dict:
    """DINO params from ``dino_vitbase16_pretrain.pth`` (or a DINO training checkpoint); default ViT-B/16."""
    path = os.fspath(path)
    try:
        return dino_from_torch(load_torch_checkpoint(path), cfg or CLIPVisionConfig.dino_vit_b_16(), dtype=dtype)
    except ConversionError as err:
        raise ConversionError(f"{path}: {err}") from None
