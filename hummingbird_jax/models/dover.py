"""DOVER: disentangled video quality (technical and aesthetic), the curation pipeline's VQA model.

Two branches, each a backbone plus a VQA head (two 1×1×1 convolutions with a GELU between them)
that maps every feature-map position to a score; a clip's raw score is the mean of that map:

* technical: a 3-D Swin (:mod:`~hummingbird_jax.models.swin3d`) over the *fragment* view (a grid
  of small native-resolution patches, so compression and blur survive);
* aesthetic: an inflated 3-D ConvNeXt (:mod:`~hummingbird_jax.models.convnext3d`) over the whole
  frame squashed to 224×224.

DOVER-Mobile uses a ConvNeXt-V2 femto for both. :func:`fuse_dover` turns the raw scores into the
three (0, 1) scores of ``evaluate_a_set_of_videos.fuse_results``. The backbone types are the names
of the official ``dover.yml`` (``model.args.backbone.<branch>.type``).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from hummingbird_jax.models.convnext3d import ConvNeXt3D, ConvNeXt3DConfig
from hummingbird_jax.models.swin3d import Swin3D, Swin3DConfig

__all__ = [
    "BRANCHES",
    "BACKBONE_TYPES",
    "DOVERConfig",
    "DOVER",
    "dover_score_maps",
    "dover_scores",
    "fuse_dover",
    "init_dover_params",
]

BRANCHES = ("technical", "aesthetic")

# Official type name -> backbone config (``DOVER.__init__``: these constructors ignore other keys).
BACKBONE_TYPES = {
    "swin_tiny_grpb": Swin3DConfig(),
    "swin_tiny_grpb_m": Swin3DConfig(window_size=(4, 4, 4), frag_biases=(False,) * 4),
    "conv_tiny": ConvNeXt3DConfig(depths=(3, 3, 9, 3), dims=(96, 192, 384, 768)),
    "conv_small": ConvNeXt3DConfig(depths=(3, 3, 27, 3), dims=(96, 192, 384, 768)),
    "conv_femto": ConvNeXt3DConfig(depths=(2, 2, 6, 2), dims=(48, 96, 192, 384), version=2),
    "conv_pico": ConvNeXt3DConfig(depths=(2, 2, 6, 2), dims=(64, 128, 256, 512), version=2),
}

# evaluate_a_set_of_videos.fuse_results: raw scores are standardised, then squashed.
TECHNICAL_MEAN, TECHNICAL_STD = 0.1107, 0.07355
AESTHETIC_MEAN, AESTHETIC_STD = -0.08285, 0.03774
TECHNICAL_WEIGHT, AESTHETIC_WEIGHT = 0.6104, 0.3896


@dataclasses.dataclass(frozen=True)
class DOVERConfig:
    """One backbone per branch, the head sizes, and whether each branch has its own head."""

    technical: Swin3DConfig | ConvNeXt3DConfig = BACKBONE_TYPES["swin_tiny_grpb"]
    aesthetic: Swin3DConfig | ConvNeXt3DConfig = BACKBONE_TYPES["conv_tiny"]
    head_in_channels: int = 768
    head_hidden_channels: int = 64
    divide_head: bool = True

    def __post_init__(self):
        for branch in BRANCHES:
            width = getattr(self, branch).num_features
            if width != self.head_in_channels:
                raise ValueError(
                    f"DOVERConfig: the {branch} backbone gives {width} channels but vqa_head.in_channels is "
                    f"{self.head_in_channels}"
                )

    @classmethod
    def from_official(cls, model_args: Mapping) -> "DOVERConfig":
        """From ``dover.yml``'s ``model.args`` (``backbone``, ``backbone_size``, ``divide_head``, ``vqa_head``)."""
        if not isinstance(model_args, Mapping) or "backbone" not in model_args:
            raise ValueError(f"DOVER model.args must be a mapping with a 'backbone' entry, got {model_args!r}")
        backbones = model_args["backbone"]
        keep = str(model_args.get("backbone_preserve_keys", "fragments,resize")).split(",")
        size = model_args.get("backbone_size", "divided")
        found = {}
        for branch in BRANCHES:
            if branch not in backbones or branch not in keep:
                raise ValueError(
                    f"DOVER model.args: backbone '{branch}' must be configured and listed in backbone_preserve_keys "
                    f"(got backbone keys {sorted(backbones)}, preserve keys {keep})"
                )
            name = backbones[branch].get("type") if size == "divided" else size
            if name not in BACKBONE_TYPES:
                raise ValueError(
                    f"DOVER model.args.backbone.{branch}.type: {name!r} is not supported; expected one of "
                    f"{sorted(BACKBONE_TYPES)}"
                )
            found[branch] = BACKBONE_TYPES[name]
        head = dict(model_args.get("vqa_head") or {})
        return cls(
            technical=found["technical"], aesthetic=found["aesthetic"],
            head_in_channels=int(head.get("in_channels", 768)), head_hidden_channels=int(head.get("hidden_channels", 64)),
            divide_head=bool(model_args.get("divide_head", False)),
        )

    def head_name(self, branch: str) -> str:
        return f"{branch}_head" if self.divide_head else "vqa_head"


class VQAHead(nn.Module):
    """``VQAHead(pre_pool=False)`` at inference (dropout is off): a score per feature position."""

    hidden: int

    @nn.compact
    def __call__(self, x):
        x = nn.Conv(self.hidden, (1, 1, 1), name="fc_hid")(x)
        return nn.Conv(1, (1, 1, 1), name="fc_last")(jax.nn.gelu(x, approximate=False))


def _backbone(cfg, name: str) -> nn.Module:
    return Swin3D(cfg, name=name) if isinstance(cfg, Swin3DConfig) else ConvNeXt3D(cfg, name=name)


class DOVER(nn.Module):
    """``DOVER.forward(..., reduce_scores=False)``: per branch a score map ``(B, T', H', W', 1)``."""

    cfg: DOVERConfig

    def setup(self):
        self.technical_backbone = _backbone(self.cfg.technical, "technical_backbone")
        self.aesthetic_backbone = _backbone(self.cfg.aesthetic, "aesthetic_backbone")
        hidden = self.cfg.head_hidden_channels
        if self.cfg.divide_head:
            self.technical_head = VQAHead(hidden, name="technical_head")
            self.aesthetic_head = VQAHead(hidden, name="aesthetic_head")
        else:
            self.vqa_head = VQAHead(hidden, name="vqa_head")

    def __call__(self, views: Mapping[str, jnp.ndarray]) -> dict[str, jnp.ndarray]:
        out = {}
        for branch in BRANCHES:
            if branch in views:
                features = getattr(self, f"{branch}_backbone")(views[branch])
                out[branch] = getattr(self, self.cfg.head_name(branch))(features)
        return out


def init_dover_params(cfg: DOVERConfig, rng=None, frames: int = 4, size: int = 64) -> dict:
    """Random params (tests, benchmarks); the shapes do not depend on ``frames``/``size``."""
    views = {b: jnp.zeros((1, frames, size, size, 3), jnp.float32) for b in BRANCHES}
    return DOVER(cfg).init(rng if rng is not None else jax.random.key(0), views)["params"]


@functools.lru_cache(maxsize=8)
def _maps_fn(cfg: DOVERConfig):
    model = DOVER(cfg)
    return jax.jit(lambda params, views: model.apply({"params": params}, views))


def dover_score_maps(params, cfg: DOVERConfig, views: Mapping[str, jnp.ndarray]) -> dict[str, jnp.ndarray]:
    """Per-position scores ``{branch: (b, T', H', W', 1)}`` (jitted once per config and shape)."""
    unknown = set(views) - set(BRANCHES)
    if unknown:
        raise ValueError(f"DOVER: unknown view(s) {sorted(unknown)}; expected {list(BRANCHES)}")
    return _maps_fn(cfg)(params, {k: jnp.asarray(v, jnp.float32) for k, v in views.items()})


def dover_scores(params, cfg: DOVERConfig, views: Mapping[str, jnp.ndarray]) -> dict[str, jnp.ndarray]:
    """Raw head outputs per clip: ``views[branch]`` is ``(b, T, H, W, 3)``, already sampled and
    normalised (one row per clip, as the official code stacks them) -> ``{branch: (b,)}``, the mean of
    each clip's score map. A video's raw score is the mean over its clips."""
    return {b: jnp.mean(m, axis=(1, 2, 3, 4)) for b, m in dover_score_maps(params, cfg, views).items()}


def fuse_dover(technical, aesthetic) -> dict[str, np.ndarray]:
    """``fuse_results``: raw technical and aesthetic scores -> ``technical``, ``aesthetic``, ``overall`` in (0, 1)."""
    t = (np.asarray(technical, np.float64) - TECHNICAL_MEAN) / TECHNICAL_STD
    a = (np.asarray(aesthetic, np.float64) - AESTHETIC_MEAN) / AESTHETIC_STD
    overall = TECHNICAL_WEIGHT * t + AESTHETIC_WEIGHT * a

    def sigmoid(x):
        return 1.0 / (1.0 + np.exp(-x))

    return {"technical": sigmoid(t), "aesthetic": sigmoid(a), "overall": sigmoid(overall)}
