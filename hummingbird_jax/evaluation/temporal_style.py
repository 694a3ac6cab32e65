"""Temporal style (VBench): the cosine between ViCLIP-L's embedding of 8 middle frames and the
prompt's text embedding, averaged over videos (:mod:`hummingbird_jax.evaluation.viclip_dimension`)."""

from __future__ import annotations

from hummingbird_jax.evaluation.viclip_backend import text_video_dimension

__all__ = ["DIMENSION"]

DIMENSION = text_video_dimension("temporal_style")
