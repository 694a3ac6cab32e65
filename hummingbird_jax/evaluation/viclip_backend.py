"""ViCLIP-L behind the two ViCLIP dimensions: the model and converter of
:mod:`hummingbird_jax.rewards.viclip`, jitted once, with VBench's 32-token prompt encoding."""

from __future__ import annotations

import os
from typing import Any

import jax
import jax.numpy as jnp

from hummingbird_jax import registry
from hummingbird_jax.convert.viclip import load_viclip
from hummingbird_jax.evaluation.dimension import Dimension
from hummingbird_jax.evaluation.viclip_dimension import WEIGHTS, ViCLIPScorer
from hummingbird_jax.rewards.viclip import ViCLIPConfig, text_features, video_features
from hummingbird_jax.text import tokenize

__all__ = ["viclip_scorer", "load_viclip_scorer", "load"]


def viclip_scorer(params: Any, cfg: ViCLIPConfig) -> ViCLIPScorer:
    """A scorer over converted params: video ``(1, 8, 224, 224, 3)`` normalised frames, prompts as text."""
    video_fn = jax.jit(lambda p, frames: video_features(p, cfg, frames))
    text_fn = jax.jit(lambda p, tokens: text_features(p, cfg, tokens))
    return ViCLIPScorer(
        video_features=lambda frames: video_fn(params, jnp.asarray(frames, jnp.float32)),
        text_features=lambda prompt: text_fn(params, jnp.asarray(tokenize([prompt], cfg.context_length)))[0],
    )


def load_viclip_scorer(path: str, cfg: ViCLIPConfig | None = None) -> ViCLIPScorer:
    """From ``ViClip-InternVid-10M-FLT.pth`` (default config ViCLIP-L/14, 8 frames)."""
    cfg = cfg or registry.backbone("viclip-vit-l14")
    return viclip_scorer(load_viclip(path, cfg), cfg)


def load(weights_dir: str) -> ViCLIPScorer:
    """ViCLIP-L from the user's ``ViClip-InternVid-10M-FLT.pth`` in ``weights_dir`` (the two ViCLIP
    dimensions' ``load``; model: :mod:`hummingbird_jax.rewards.viclip`)."""
    return load_viclip_scorer(os.path.join(weights_dir, WEIGHTS))


def text_video_dimension(name: str) -> Dimension:
    """A ViCLIP text-video dimension (``overall_consistency``, ``temporal_style``): they differ only in
    their prompt lists, which the evaluation's prompt files carry."""
    return Dimension(name=name, needs=(WEIGHTS,), load=load, score=lambda scorer, video: scorer.score(video),
                     needs_prompt=True)
