"""The toy text-video world: coloured shapes moving over plain backgrounds, and their captions.

Every clip is fully described by four labels (shape, colour, motion, background), so its caption is
exact ("a red circle moving to the left on a dark background") and a classifier can check whether a
generated video shows what its prompt asked for. Rendering is deterministic given the seed: the
start position, size and a small background tint vary with it, the labels never do.
"""

from __future__ import annotations

import dataclasses
import itertools

import cv2
import numpy as np

SHAPES = ("circle", "square", "triangle")
COLOURS = {"red": (220, 40, 40), "green": (40, 200, 60), "blue": (50, 80, 230), "yellow": (235, 215, 40)}
MOTIONS = ("left", "right", "up", "down", "static")
BACKGROUNDS = {"dark": (25, 25, 30), "light": (215, 215, 205)}
# Unit displacement (dx, dy) per motion, image coordinates (y grows downwards).
DIRECTIONS = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1), "static": (0, 0)}
LABEL_COLUMNS = ("shape", "colour", "motion", "background")
# The clips' (height, width) and length: what the world renders, the judge trains on and the reward is built for.
CLIP_SIZE = (32, 32)
CLIP_FRAMES = 4
# How far (fraction of the short side) a clip's path may sit off the frame's centre: every shape crosses
# the middle, so a caption's direction fixes each frame's position up to this offset (on clean latents a
# tiny teacher learned four captioned directions in 600 steps so, and needed 2,000 with random starts);
# the offsets keep every clip distinct.
PATH_JITTER = 0.06
TRAVEL = 0.4  # how far (fraction of the short side) a moving shape goes from the first to the last frame


@dataclasses.dataclass(frozen=True)
class ClipShape:
    """Toy clips of ``size`` (height, width) and ``frames`` frames: the fields that the world's config and the
    judge's share, so both render the same clips unless a preset says otherwise."""

    size: tuple[int, int] = CLIP_SIZE
    frames: int = CLIP_FRAMES


@dataclasses.dataclass(frozen=True)
class ClipSpec:
    shape: str
    colour: str
    motion: str
    background: str

    def __post_init__(self):
        for value, allowed, what in ((self.shape, SHAPES, "shape"), (self.colour, COLOURS, "colour"),
                                     (self.motion, MOTIONS, "motion"), (self.background, BACKGROUNDS, "background")):
            if value not in allowed:
                raise ValueError(f"unknown {what} {value!r}; expected one of {sorted(allowed)}")

    @property
    def caption(self) -> str:
        action = "staying still" if self.motion == "static" else (
            f"moving to the {self.motion}" if self.motion in ("left", "right") else f"moving {self.motion}")
        return f"a {self.colour} {self.shape} {action} on a {self.background} background"

    def labels(self) -> dict[str, str]:
        return dataclasses.asdict(self)


def all_specs() -> list[ClipSpec]:
    """Every combination of the four labels, in a fixed order."""
    return [ClipSpec(*combo) for combo in itertools.product(SHAPES, COLOURS, MOTIONS, BACKGROUNDS)]


def _draw_shape(frame: np.ndarray, shape: str, centre: tuple[float, float], radius: float, colour) -> None:
    """Anti-aliased filled shape, sub-pixel positioned (cv2's ``shift`` fixed point)."""
    shift = 4
    scale = 1 << shift
    cx, cy = centre
    if shape == "circle":
        cv2.circle(frame, (int(round(cx * scale)), int(round(cy * scale))), int(round(radius * scale)), colour, -1,
                   cv2.LINE_AA, shift)
        return
    if shape == "square":
        r = radius * 0.85
        points = [(cx - r, cy - r), (cx + r, cy - r), (cx + r, cy + r), (cx - r, cy + r)]
    else:
        points = [(cx, cy - radius), (cx + radius * 0.95, cy + radius * 0.75), (cx - radius * 0.95, cy + radius * 0.75)]
    pts = np.round(np.array(points) * scale).astype(np.int32)
    cv2.fillPoly(frame, [pts], colour, cv2.LINE_AA, shift)


def render(spec: ClipSpec, *, size=CLIP_SIZE, frames: int = CLIP_FRAMES, seed: int = 0) -> np.ndarray:
    """Frames ``(T, H, W, 3) uint8`` of ``spec``.

    The shape (radius ≈ 22 % of the short side) crosses the frame's centre, travelling ``TRAVEL`` of the
    short side over the clip in its direction (a static one sits at the centre); its path is shifted by up to
    ``PATH_JITTER`` of the short side along both axes. The background gets a faint vertical gradient and
    tint, so no two clips are pixel-identical.
    """
    rng = np.random.default_rng(seed)
    h, w = size
    radius = min(h, w) * rng.uniform(0.19, 0.24)
    dx, dy = DIRECTIONS[spec.motion]
    travel = TRAVEL * min(h, w)
    step = travel / max(frames - 1, 1)
    jitter = PATH_JITTER * min(h, w)
    x0 = w / 2 - dx * travel / 2 + rng.uniform(-jitter, jitter)
    y0 = h / 2 - dy * travel / 2 + rng.uniform(-jitter, jitter)
    base = np.array(BACKGROUNDS[spec.background], np.float32) + rng.uniform(-12, 12, 3)
    gradient = np.linspace(-1, 1, h, dtype=np.float32)[:, None, None] * rng.uniform(-10, 10)
    background = np.clip(base + gradient + np.zeros((h, w, 3), np.float32), 0, 255)
    colour = tuple(float(c) for c in np.clip(np.array(COLOURS[spec.colour]) + rng.uniform(-10, 10, 3), 0, 255))
    out = np.empty((frames, h, w, 3), np.uint8)
    for t in range(frames):
        frame = background.copy()
        _draw_shape(frame, spec.shape, (x0 + dx * step * t, y0 + dy * step * t), radius, colour)
        out[t] = np.clip(frame, 0, 255).astype(np.uint8)
    return out


def foreground_track(videos: np.ndarray) -> np.ndarray:
    """``(N, T, 2)`` centroid (x, y) in pixels of each frame's foreground: the pixels farthest from the
    frame's median colour (the plain background), weighted by how far they are beyond half the largest
    distance. A judge-free measure of where the object is."""
    v = np.asarray(videos, np.float32)
    n, t, h, w, c = v.shape
    median = np.median(v.reshape(n, t, h * w, c), axis=2)[:, :, None, None, :]
    dist = np.sqrt(((v - median) ** 2).sum(-1))
    weight = np.maximum(dist - 0.5 * dist.max(axis=(2, 3), keepdims=True), 0.0)
    ys, xs = np.mgrid[0:h, 0:w]
    total = weight.sum((2, 3)) + 1e-8
    return np.stack([(weight * xs).sum((2, 3)) / total, (weight * ys).sum((2, 3)) / total], -1)


def captioned_displacement(videos: np.ndarray, specs: list[ClipSpec]) -> dict[str, float]:
    """How far the foreground travels from the first to the last frame along each prompt's direction
    (pixels; real clips travel ``TRAVEL`` of the short side), over the moving prompts, and how far the
    static prompts' foreground drifts."""
    track = foreground_track(videos)
    step = track[:, -1] - track[:, 0]
    along = [float(step[i] @ np.array(DIRECTIONS[s.motion])) for i, s in enumerate(specs) if s.motion != "static"]
    drift = [float(np.linalg.norm(step[i])) for i, s in enumerate(specs) if s.motion == "static"]
    return {"along_caption_px": float(np.mean(along)) if along else float("nan"),
            "moving_as_captioned": float(np.mean([a > 0.25 * min(videos.shape[2:4]) for a in along])) if along else float("nan"),
            "static_drift_px": float(np.mean(drift)) if drift else float("nan")}
