"""DOVER video quality assessment: the public entry points in one place.

* :class:`DOVERConfig` (``DOVERConfig.from_official(model_args)`` reads ``dover.yml``'s ``model.args``);
* :func:`dover_params_from_torch` / :func:`load_dover`: the official state dict or ``DOVER.pth``;
* :func:`sample_dover_views`: the technical (fragments) and aesthetic (resized) views of a video;
* :func:`dover_scores`: raw per-clip head outputs; :func:`fuse_dover`: the three (0, 1) scores;
* :func:`score_video`: all of it for one file.

Model: :mod:`hummingbird_jax.models.dover`; conversion: :mod:`hummingbird_jax.convert.dover`; views:
:mod:`hummingbird_jax.data.dover_views`; the curation stage: ``hummingbird_jax/curation/quality.py``.
"""

from __future__ import annotations

import numpy as np

from hummingbird_jax.convert.dover import dover_params_from_torch, load_dover
from hummingbird_jax.data.dover_views import DEFAULT_SAMPLE_TYPES, clips_first, normalize_view, sample_dover_views
from hummingbird_jax.models.dover import BRANCHES, DOVERConfig, dover_scores, fuse_dover, init_dover_params

__all__ = [
    "DEFAULT_SAMPLE_TYPES",
    "DOVERConfig",
    "dover_params_from_torch",
    "dover_scores",
    "fuse_dover",
    "init_dover_params",
    "load_dover",
    "network_views",
    "sample_dover_views",
    "score_video",
]


def network_views(views: dict, sample_types: dict | None = None) -> dict:
    """uint8 views of one video -> normalised ``{branch: (clips, T, H, W, 3)}`` float32 network input."""
    sample_types = sample_types or DEFAULT_SAMPLE_TYPES
    return {b: clips_first(normalize_view(v), sample_types[b]["num_clips"]) for b, v in views.items()}


def score_video(params, cfg: DOVERConfig, path, *, seed: int = 0, sample_types: dict | None = None) -> dict:
    """One video -> raw ``technical``/``aesthetic`` (mean over clips) and the fused scores."""
    views, _ = sample_dover_views(path, sample_types, seed=seed)
    raw = dover_scores(params, cfg, network_views(views, sample_types))
    technical, aesthetic = (float(np.mean(np.asarray(raw[b]))) for b in BRANCHES)
    fused = fuse_dover(technical, aesthetic)
    return {"raw_technical": technical, "raw_aesthetic": aesthetic, **{k: float(v) for k, v in fused.items()}}
