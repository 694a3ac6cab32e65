"""What VBench's two ViCLIP dimensions share (overall consistency, temporal style): 8 frames taken
from the middle of 8 equal spans of the video, ``clip_transform(224)`` on uint8 frames (rounded
back to uint8 after the resize), one ViCLIP video embedding, and its cosine with the prompt's text
embedding. The two dimensions differ only in their prompt lists."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import numpy as np

from hummingbird_jax.evaluation.dimension import Video
from hummingbird_jax.evaluation.transforms import clip_transform

__all__ = ["WEIGHTS", "NUM_FRAMES", "middle_frame_indices", "viclip_input", "cosine_score", "ViCLIPScorer"]

WEIGHTS = "ViClip-InternVid-10M-FLT.pth"
NUM_FRAMES = 8


def middle_frame_indices(num_frames: int, length: int) -> list[int]:
    """VBench's ``get_frame_indices(sample='middle')``: the middle of each of ``num_frames`` equal
    spans; a shorter video repeats its last index."""
    count = min(num_frames, length)
    edges = np.linspace(0, length, count + 1).astype(int)
    indices = [(int(a) + int(b) - 1) // 2 for a, b in zip(edges[:-1], edges[1:])]
    return indices + [indices[-1]] * (num_frames - len(indices))


def viclip_input(frames, num_frames: int = NUM_FRAMES, size: int = 224):
    """uint8 ``(T, H, W, 3)`` -> ``(num_frames, size, size, 3)`` normalised ViCLIP input."""
    frames = np.asarray(frames)
    return clip_transform(frames[middle_frame_indices(num_frames, len(frames))], size, uint8=True)


def cosine_score(video_feature, text_feature) -> float:
    """``normalise(video) . normalise(text)`` (both L2-normalised as in VBench)."""
    v = np.asarray(video_feature, np.float64).reshape(-1)
    t = np.asarray(text_feature, np.float64).reshape(-1)
    return float(v @ t / (np.linalg.norm(v) * np.linalg.norm(t)))


@dataclasses.dataclass
class ViCLIPScorer:
    """``video_features(frames (1, T, H, W, 3)) -> (1, D)`` and ``text_features(prompt) -> (D,)``."""

    video_features: Callable[[Any], Any]
    text_features: Callable[[str], Any]
    _text_cache: dict = dataclasses.field(default_factory=dict)

    def score(self, video: Video) -> dict:
        if not video.prompt:
            raise ValueError(f"{video.path}: this dimension needs the video's prompt")
        if video.prompt not in self._text_cache:
            self._text_cache[video.prompt] = np.asarray(self.text_features(video.prompt))
        feature = np.asarray(self.video_features(viclip_input(video.frames)[None]))
        return {"score": cosine_score(feature, self._text_cache[video.prompt])}
