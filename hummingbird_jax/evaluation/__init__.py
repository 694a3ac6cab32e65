"""VBench-style video evaluation in JAX (``hummingbird eval``): one module per dimension, each
reproducing VBench 0.1.5's formula and preprocessing, on weights the user brings.

``DIMENSIONS`` lists them in VBench's order. The command's engine, ``run_evaluation``, is imported from
:mod:`.runner`: it reads ``DIMENSIONS`` from here, so this facade does not import it back.
"""

from hummingbird_jax.evaluation import (
    aesthetic_quality,
    background_consistency,
    overall_consistency,
    subject_consistency,
    temporal_flickering,
    temporal_style,
)
from hummingbird_jax.evaluation.dimension import Dimension, Video

DIMENSIONS: dict[str, Dimension] = {
    module.DIMENSION.name: module.DIMENSION
    for module in (subject_consistency, background_consistency, temporal_flickering, aesthetic_quality,
                   temporal_style, overall_consistency)
}

__all__ = ["DIMENSIONS", "Dimension", "Video"]
