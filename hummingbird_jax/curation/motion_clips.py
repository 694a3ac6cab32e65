"""Synthetic clips with a known camera motion, for validating the motion classifier.

Each clip is rendered from a random multi-scale texture (smooth noise in several octaves plus
random discs and boxes, so optical flow has structure at every scale) seen through a virtual
camera. Per frame ``t`` the camera looks at canvas point ``c_t`` with magnification ``z_t``:

* ``static``: fixed view; ``pan``/``tilt``: ``c_t`` moves horizontally/vertically;
* ``zoom_in``/``zoom_out``: ``z_t = (1 ± rate)^t`` about the frame centre;
* ``dolly_zoom``: the background zooms as above while a textured subject in the centre keeps its size
  (the vertigo effect: the camera dollies and zooms so the subject's framing stays fixed);
* ``object_motion``: fixed view, a textured object slides across the frame.

``speed`` scales the motion: 1.0 means 1 % of the frame width per frame for pans/tilts and for the
edge of a zoom, 1.5 % for objects. Sensor noise (σ = 2 grey levels) is added to every frame.
"""

from __future__ import annotations

import os

import cv2
import numpy as np

from hummingbird_jax.video_io import DEFAULT_CRF

MOTION_CLASSES = ("static", "pan", "tilt", "zoom_in", "zoom_out", "dolly_zoom", "object_motion")


def textured_canvas(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Random RGB texture in float32 [0, 255]."""
    image = np.zeros((height, width, 3), np.float32)
    for cells, weight in ((3, 1.0), (8, 0.8), (20, 0.6), (48, 0.45)):
        grid = rng.random((max(2, cells * height // width), cells, 3)).astype(np.float32)
        image += weight * cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
    image = (image - image.min()) / (np.ptp(image) + 1e-6) * 255.0
    for _ in range(int(0.004 * height * width**0.5)):
        color = tuple(float(c) for c in rng.uniform(0, 255, 3))
        center = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        size = int(rng.integers(2, max(3, width // 25)))
        if rng.random() < 0.5:
            cv2.circle(image, center, size, color, -1, lineType=cv2.LINE_AA)
        else:
            cv2.rectangle(image, center, (center[0] + size, center[1] + size), color, -1)
    return image


def _view(canvas: np.ndarray, center, zoom: float, size) -> np.ndarray:
    """The ``size`` (h, w) view of ``canvas`` centred on ``center`` (x, y) at magnification ``zoom``."""
    h, w = size
    matrix = np.array(
        [[1 / zoom, 0, center[0] - (w - 1) / 2 / zoom], [0, 1 / zoom, center[1] - (h - 1) / 2 / zoom]],
        np.float64,
    )
    return cv2.warpAffine(
        canvas, matrix, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT
    )


def _sprite(height: int, width: int, rng: np.random.Generator):
    """A textured ellipse (image, alpha) for subjects and moving objects."""
    image = textured_canvas(height, width, rng)
    image = 0.5 * image + 0.5 * rng.uniform(0, 255, 3).astype(np.float32)  # distinct tint
    alpha = np.zeros((height, width), np.float32)
    cv2.ellipse(alpha, (width // 2, height // 2), (width // 2 - 1, height // 2 - 1), 0, 0, 360, 1.0, -1, cv2.LINE_AA)
    return image, alpha[..., None]


def _paste(frame: np.ndarray, sprite, x0: float, y0: float) -> np.ndarray:
    """Alpha-composites ``sprite`` with its top-left corner at sub-pixel position (x0, y0)."""
    image, alpha = sprite
    h, w = frame.shape[:2]
    shift = np.array([[1, 0, x0], [0, 1, y0]], np.float64)
    moved = cv2.warpAffine(image, shift, (w, h), flags=cv2.INTER_LINEAR)
    mask = cv2.warpAffine(alpha, shift, (w, h), flags=cv2.INTER_LINEAR)[..., None]
    return frame * (1 - mask) + moved * mask


def render_clip(
    label: str, size=(96, 128), frames: int = 24, speed: float = 1.0, seed: int = 0
) -> np.ndarray:
    """Frames ``(T, H, W, 3) uint8`` of a clip whose camera motion is ``label``."""
    if label not in MOTION_CLASSES:
        raise ValueError(f"unknown motion class {label!r}; expected one of {MOTION_CLASSES}")
    rng = np.random.default_rng(seed)
    h, w = size
    canvas = textured_canvas(3 * h, 3 * w, rng)
    home = (1.5 * w, 1.5 * h)
    sign = 1.0 if rng.random() < 0.5 else -1.0
    step = 0.01 * speed * w
    rate = 0.02 * speed  # edge displacement rate * W/2 = 1 % of the width per frame at speed 1
    subject = object_sprite = None
    if label == "dolly_zoom":
        subject = _sprite(int(0.62 * h) // 2 * 2, int(0.42 * w) // 2 * 2, rng)
    if label == "object_motion":
        object_sprite = _sprite(int(0.3 * h), int(0.22 * w), rng)
        obj_y = rng.uniform(0.15, 0.55) * h
        obj_step = 0.015 * speed * w * sign
        obj_x = 0.5 * w - obj_step * frames / 2 - object_sprite[0].shape[1] / 2
    out = []
    for t in range(frames):
        center, zoom = home, 1.0
        if label == "pan":
            center = (home[0] + sign * step * t, home[1])
        elif label == "tilt":
            center = (home[0], home[1] + sign * step * t)
        elif label in ("zoom_in", "dolly_zoom"):
            zoom = (1 + rate) ** t if label == "zoom_in" or sign > 0 else (1 - rate) ** t
        elif label == "zoom_out":
            zoom = (1 - rate) ** t
        frame = _view(canvas, center, zoom, size)
        if subject is not None:
            sh, sw = subject[0].shape[:2]
            frame = _paste(frame, subject, (w - sw) / 2, (h - sh) / 2)
        if object_sprite is not None:
            frame = _paste(frame, object_sprite, obj_x + obj_step * t, obj_y)
        frame = frame + rng.normal(0, 2.0, frame.shape)
        out.append(np.clip(frame, 0, 255).astype(np.uint8))
    return np.stack(out)


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: int = 24, crf: int = DEFAULT_CRF) -> None:
    """Writes ``(T, H, W, 3) uint8`` RGB frames as H.264 MP4 with PyAV (even sizes required)."""
    import av

    t, h, w, _ = frames.shape
    if h % 2 or w % 2:
        raise ValueError(f"H.264 needs even frame sizes, got {h}x{w}")
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": str(crf), "preset": "veryfast"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
