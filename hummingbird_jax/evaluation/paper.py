"""The Hummingbird paper's Table 1 (VBench, in %) for the dimensions ``hummingbird eval`` computes,
so a user's numbers can be read beside the published ones. These are the paper's values, not ours."""

from __future__ import annotations

__all__ = ["PAPER_TABLE_1", "PAPER_SOURCE"]

PAPER_SOURCE = "Hummingbird paper, Table 1 (VBench, %)"

PAPER_TABLE_1: dict[str, dict[str, float]] = {
    "VideoCrafter2": {
        "subject_consistency": 96.85, "background_consistency": 98.22, "temporal_flickering": 98.41,
        "aesthetic_quality": 63.13, "dynamic_degree": 42.50, "temporal_style": 25.84, "overall_consistency": 28.23,
    },
    "Hummingbird 16 frames": {
        "subject_consistency": 95.87, "background_consistency": 96.77, "temporal_flickering": 95.24,
        "aesthetic_quality": 68.04, "dynamic_degree": 79.17, "temporal_style": 25.53, "overall_consistency": 28.09,
    },
    "Hummingbird 26 frames": {
        "subject_consistency": 96.97, "background_consistency": 97.73, "temporal_flickering": 97.64,
        "aesthetic_quality": 67.82, "dynamic_degree": 50.00, "temporal_style": 24.24, "overall_consistency": 27.65,
    },
}
