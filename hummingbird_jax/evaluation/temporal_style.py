"""Temporal style (VBench): the cosine between ViCLIP-L's embedding of 8 middle frames and the
prompt's text embedding, averaged over videos (:mod:`hummingbird_jax.evaluation.viclip_dimension`)."""

from __future__ import annotations

from hummingbird_jax.evaluation import viclip_backend, viclip_dimension
from hummingbird_jax.evaluation.dimension import Dimension

__all__ = ["DIMENSION"]

DIMENSION = Dimension(
    name="temporal_style",
    needs=(viclip_dimension.WEIGHTS,),
    load=viclip_backend.load,
    score=lambda scorer, video: scorer.score(video),
    needs_prompt=True,
)
