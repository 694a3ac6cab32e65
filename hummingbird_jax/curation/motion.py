"""Camera-motion analysis: optical flow on downscaled frames -> scores and a camera label per clip.

Method
------
1. ``pairs`` frame pairs ``(i, i + gap)`` are spread evenly over the clip, decoded with PyAV as
   grey images and downscaled (area filter) to ``width`` pixels (default 160).
2. Dense flow per pair with OpenCV's DIS optical flow (medium preset). Only pixels that carry
   texture (local mean |∇I| ≥ ``TEXTURE_MIN``) and lie inside a 6 % border are used: flat regions
   and the borders (content entering/leaving) give unreliable flow.
3. Coordinates ``(x, y)`` are measured from the frame centre in units of half the frame width, so a
   similarity model ``u = tx + s·x − r·y``, ``v = ty + s·y + r·x`` has ``s`` = relative scale change
   (zoom), ``r`` = rotation and ``tx, ty`` = translation (pan, tilt). It is fitted by trimmed least
   squares, starting from the median translation and then three passes, each keeping the pixels
   whose residual is within 2.5× the median (at least 0.5 px), which ignores moving objects.
4. Scores per pair, then the median over pairs, divided by ``gap`` to give per-frame rates:

   * ``motion_magnitude``: mean flow length, fraction of frame width per frame;
   * ``motion_pan`` / ``motion_tilt``: ``tx/2``, ``ty/2`` (fraction of frame width per frame, signed:
     positive = content moves right/down, i.e. the camera pans left/tilts up);
   * ``motion_zoom``: global ``s`` (> 0: content expands, zoom in);
   * ``motion_zoom_edge``: ``s`` fitted on the periphery only (radius ≥ ``EDGE_RADIUS``);
   * ``motion_zoom_center``: divergence ``(∂u/∂x + ∂v/∂y)/2`` of an affine model fitted on the centre
     disc only (radius ≤ ``CENTER_RADIUS``), NaN if it has too little texture;
   * ``motion_rotation``: ``r`` (radians per frame);
   * ``motion_moving_area``: fraction of used pixels whose residual from the global model exceeds
     ``RESIDUAL_PX`` pixels per frame pair: things moving on their own.

Decision (thresholds are module constants, exposed as options)
--------------------------------------------------------------
Camera strengths are compared as displacement at the frame edge in fraction of frame width per
frame: ``|pan|``, ``|tilt|`` and ``|zoom|/2`` (``zoom`` = the larger of global and edge ``s``).

* all three < ``CAMERA_MIN`` (0.0015, i.e. 0.24 px/frame at 160 px): ``object_motion`` if
  ``motion_moving_area`` ≥ ``MOVING_AREA_MIN`` (2 %), else ``static``;
* zoom strongest: a **dolly zoom** keeps the subject's size while the background scales, so the
  divergence is near zero at the subject (centre) and the periphery is radial:
  ``dolly_zoom`` if ``|zoom_center| < DOLLY_RATIO · |zoom_edge|`` (0.4; a plain zoom scales every
  region alike, ratio ≈ 1). Otherwise ``zoom_in``/``zoom_out`` by the sign of ``s``. Without a
  textured centre the clip counts as a plain zoom (no evidence for a dolly zoom);
* otherwise ``pan`` if ``|pan| ≥ |tilt|``, else ``tilt``.

The subject of a dolly zoom is assumed to sit in the centre disc (radius ``CENTER_RADIUS`` = 0.3
half-widths, i.e. the middle 30 % of the width), as in the shots the effect is used for.
Validation on synthetic clips: ``benchmarks/curation_motion.py``.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from hummingbird_jax.curation.stage import Stage

PAIRS = 6  # frame pairs per clip
GAP = 2  # frames between the two frames of a pair
FLOW_WIDTH = 160  # analysis width in pixels
CAMERA_MIN = 0.0015
MOVING_AREA_MIN = 0.02
DOLLY_RATIO = 0.4
RESIDUAL_PX = 0.6
TEXTURE_MIN = 3.0
CENTER_RADIUS = 0.3
EDGE_RADIUS = 0.55
BORDER = 0.06
MIN_CENTER_PIXELS = 60

MOTION_COLUMNS = (
    "motion_magnitude",
    "motion_pan",
    "motion_tilt",
    "motion_zoom",
    "motion_zoom_center",
    "motion_zoom_edge",
    "motion_rotation",
    "motion_moving_area",
    "camera_motion",
)


def read_gray_frames(path: str, indices: list[int], start: int = 0, width: int = 160) -> dict[int, np.ndarray]:
    """Decodes the frames at ``indices`` (absolute frame numbers) as downscaled grey images."""
    import av

    wanted = set(indices)
    last = max(wanted)
    out: dict[int, np.ndarray] = {}
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = float(stream.average_rate or stream.guessed_rate or 0)
        base = stream.start_time or 0
        use_pts = start > 0 and rate > 0 and stream.time_base is not None
        if use_pts:
            container.seek(int(base + start / rate / stream.time_base), stream=stream, backward=True)
        counter = 0
        for frame in container.decode(stream):
            if use_pts and frame.pts is not None:
                index = int(round(float((frame.pts - base) * stream.time_base) * rate))
            else:
                index = counter
            counter += 1
            if index in wanted:
                gray = frame.to_ndarray(format="gray")
                h, w = gray.shape
                if w > width:
                    size = (width, max(2, int(round(h * width / w))))
                    gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
                out[index] = gray
            if index >= last:
                break
    return out


def _coordinates(h: int, w: int):
    half = w / 2.0
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    return (xs - (w - 1) / 2) / half, (ys - (h - 1) / 2) / half, half


def _similarity_design(x, y):
    zeros, ones = np.zeros_like(x), np.ones_like(x)
    # rows for u: [tx, ty, s, r] -> tx + s x - r y ; rows for v: ty + s y + r x
    top = np.stack([ones, zeros, x, -y], axis=1)
    bottom = np.stack([zeros, ones, y, x], axis=1)
    return np.concatenate([top, bottom])


def _fit_similarity(x, y, u, v, min_residual):
    """Trimmed least squares; returns (tx, ty, s, r), residual length per pixel."""
    design = _similarity_design(x, y)
    target = np.concatenate([u, v])
    # Start from the median translation (robust while the background is most of the pixels), so a
    # large textured object cannot pull the first least-squares pass towards itself.
    params = np.array([np.median(u), np.median(v), 0.0, 0.0])
    residual = np.hypot(u - params[0], v - params[1])
    keep = residual <= max(2.5 * np.median(residual), min_residual)
    for _ in range(3):
        if keep.sum() < 8:
            break
        rows = np.concatenate([keep, keep])
        params, *_ = np.linalg.lstsq(design[rows], target[rows], rcond=None)
        residual = np.hypot(u - (params[0] + params[2] * x - params[3] * y), v - (params[1] + params[2] * y + params[3] * x))
        keep = residual <= max(2.5 * np.median(residual[keep]), min_residual)
    residual = np.hypot(u - (params[0] + params[2] * x - params[3] * y), v - (params[1] + params[2] * y + params[3] * x))
    return params, residual


def _center_divergence(x, y, u, v):
    design = np.stack([np.ones_like(x), x, y], axis=1)
    (_, ux, _), *_ = np.linalg.lstsq(design, u, rcond=None)
    (_, _, vy), *_ = np.linalg.lstsq(design, v, rcond=None)
    return (ux + vy) / 2


def pair_scores(a: np.ndarray, b: np.ndarray, flow_engine=None) -> dict[str, float]:
    """Scores of one frame pair (grey uint8 images of equal size), in units per pair."""
    engine = flow_engine or cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    flow = engine.calc(a, b, None).astype(np.float64)
    h, w = a.shape
    x, y, half = _coordinates(h, w)
    grad = cv2.blur(np.abs(cv2.Sobel(a, cv2.CV_32F, 1, 0)) + np.abs(cv2.Sobel(a, cv2.CV_32F, 0, 1)), (5, 5)) / 8
    mask = grad >= TEXTURE_MIN
    by, bx = max(1, int(BORDER * h)), max(1, int(BORDER * w))
    inner = np.zeros_like(mask)
    inner[by : h - by, bx : w - bx] = True
    mask &= inner
    if mask.sum() < 50:  # textureless (e.g. a black frame): nothing measurable
        mask = inner
    xs, ys = x[mask], y[mask]
    us, vs = flow[..., 0][mask] / half, flow[..., 1][mask] / half
    radius = np.hypot(xs, ys)
    params, residual = _fit_similarity(xs, ys, us, vs, 0.5 / half)
    edge = radius >= EDGE_RADIUS
    zoom_edge = _fit_similarity(xs[edge], ys[edge], us[edge], vs[edge], 0.5 / half)[0][2] if edge.sum() >= 8 else params[2]
    center = radius <= CENTER_RADIUS
    zoom_center = _center_divergence(xs[center], ys[center], us[center], vs[center]) if center.sum() >= MIN_CENTER_PIXELS else math.nan
    magnitude = np.hypot(flow[..., 0][inner], flow[..., 1][inner]).mean() / w
    return {
        "motion_magnitude": float(magnitude),
        "motion_pan": float(params[0] / 2),
        "motion_tilt": float(params[1] / 2),
        "motion_zoom": float(params[2]),
        "motion_zoom_center": float(zoom_center),
        "motion_zoom_edge": float(zoom_edge),
        "motion_rotation": float(params[3]),
        "motion_moving_area": float(np.mean(residual * half > RESIDUAL_PX)),
    }


def classify(scores: dict, camera_min=CAMERA_MIN, moving_area_min=MOVING_AREA_MIN, dolly_ratio=DOLLY_RATIO) -> str:
    """Camera label from per-frame scores (see the module docstring)."""
    pan, tilt = abs(scores["motion_pan"]), abs(scores["motion_tilt"])
    edge = scores["motion_zoom_edge"]
    zoom_signed = edge if abs(edge) >= abs(scores["motion_zoom"]) else scores["motion_zoom"]
    zoom = abs(zoom_signed) / 2
    if max(pan, tilt, zoom) < camera_min:
        return "object_motion" if scores["motion_moving_area"] >= moving_area_min else "static"
    if zoom >= max(pan, tilt):
        center = scores["motion_zoom_center"]
        if not math.isnan(center) and abs(center) < dolly_ratio * abs(edge):
            return "dolly_zoom"
        return "zoom_in" if zoom_signed > 0 else "zoom_out"
    return "pan" if pan >= tilt else "tilt"


def clip_scores(path: str, start: int, end: int, pairs: int = 6, gap: int = 2, width: int = 160) -> dict:
    """Median per-frame scores over ``pairs`` frame pairs of frames ``[start, end)`` of ``path``."""
    if end - start < 2:
        raise ValueError(f"clip {path} [{start}, {end}) has fewer than 2 frames")
    gap = max(1, min(gap, end - start - 1))
    firsts = sorted({int(round(i)) for i in np.linspace(start, end - 1 - gap, pairs)})
    frames = read_gray_frames(path, firsts + [i + gap for i in firsts], start=start, width=width)
    engine = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    per_pair = [pair_scores(frames[i], frames[i + gap], engine) for i in firsts if i in frames and i + gap in frames]
    if not per_pair:
        raise ValueError(f"no frame pair could be decoded from {path} [{start}, {end})")
    scores = {}
    for key in per_pair[0]:
        values = np.array([p[key] for p in per_pair])
        value = float(np.nanmedian(values)) if not np.all(np.isnan(values)) else math.nan
        scores[key] = value if key == "motion_moving_area" else value / gap
    return scores


class MotionStage(Stage):
    """``motion``: flow scores and ``camera_motion`` per row (a clip if ``start_frame``/``end_frame``)."""

    name = "motion"
    columns = MOTION_COLUMNS
    kind = "cpu"
    batch_size = 1
    summary_column = "camera_motion"

    def __init__(self, pairs=PAIRS, gap=GAP, width=FLOW_WIDTH, camera_min=CAMERA_MIN, moving_area_min=MOVING_AREA_MIN,
                 dolly_ratio=DOLLY_RATIO):
        self.pairs, self.gap, self.width = int(pairs), int(gap), int(width)
        self.camera_min, self.moving_area_min, self.dolly_ratio = camera_min, moving_area_min, dolly_ratio

    def params(self):
        return dict(pairs=self.pairs, gap=self.gap, width=self.width, camera_min=self.camera_min,
                    moving_area_min=self.moving_area_min, dolly_ratio=self.dolly_ratio)

    def process(self, rows):
        out = []
        for row in rows:
            start = int(row.get("start_frame") or 0)
            end = row.get("end_frame")
            if end is None:
                if row.get("frames") is None:
                    raise ValueError(f"{row['path']}: no frame count; run ingest first")
                end = start + int(row["frames"])
            scores = clip_scores(Path(row["path"]), start, int(end), self.pairs, self.gap, self.width)
            scores["camera_motion"] = classify(scores, self.camera_min, self.moving_area_min, self.dolly_ratio)
            out.append({k: (round(v, 6) if isinstance(v, float) and not math.isnan(v) else v) for k, v in scores.items()})
        return out
