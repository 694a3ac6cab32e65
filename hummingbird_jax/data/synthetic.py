"""Small real video files whose frames say their own index, for tests and throughput benchmarks.

The top 40% of frame ``i`` is a flat colour coding ``i`` (red = i mod 32, green = i div 32, in steps
of 7 levels, which survives H.264 at the default quality); the rest is a moving texture so decoding
does real work. :func:`frame_index` reads the index back from a decoded frame, which lets tests
check which frames a loader picked, not only how many.
"""

from __future__ import annotations

import os

import av
import numpy as np

from hummingbird_jax.video_io import DEFAULT_CRF

_STEP, _BASE = 7, 16


def synthetic_frame(index: int, height: int, width: int, noise: float = 0.0) -> np.ndarray:
    """uint8 (height, width, 3) frame ``index``; ``noise`` adds per-frame grain of that std to the
    textured part, which makes the bitstream (and its decoding cost) closer to camera footage."""
    frame = np.empty((height, width, 3), np.uint8)
    top = max(1, int(height * 0.4))
    frame[:top, :, 0] = _BASE + _STEP * (index % 32)
    frame[:top, :, 1] = _BASE + _STEP * (index // 32)
    frame[:top, :, 2] = 128
    y, x = np.mgrid[top:height, 0:width]
    texture = 127 + 100 * np.sin((x + 3 * index) / 9.0) * np.cos((y - 2 * index) / 13.0)
    texture = np.repeat(texture[..., None], 3, axis=-1)
    if noise:
        texture += np.random.default_rng(index).normal(0.0, noise, texture.shape)
    frame[top:] = np.clip(texture, 0, 255).astype(np.uint8)
    return frame


def frame_index(frame: np.ndarray) -> int:
    """The index coded in a decoded (possibly resized and cropped) frame, read from its top rows.

    Accepts uint8 in [0, 255] or float in [-1, 1]; only the top 15% of the rows is read, which stays
    inside the coded band after a centre crop of up to 30% of the height.
    """
    frame = np.asarray(frame, np.float64)
    if frame.max() <= 1.0:
        frame = (frame + 1.0) * 127.5
    band = frame[: max(1, int(frame.shape[0] * 0.15))]
    red, green = band[..., 0].mean(), band[..., 1].mean()
    return int(round((green - _BASE) / _STEP)) * 32 + int(round((red - _BASE) / _STEP))


def write_video(
    path: str,
    *,
    num_frames: int,
    fps: int,
    height: int,
    width: int,
    codec: str = "libx264",
    faststart: bool = False,
    gop: int = 12,
    noise: float = 0.0,
) -> str:
    """Write an mp4 (or any container PyAV infers from ``path``) of synthetic frames; returns ``path``.

    ``faststart`` puts the index at the front of the file, so a truncated copy still opens and
    reports its full frame count (the hard case for a loader).
    """
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(path, mode="w", options=options) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.gop_size = gop
        if codec == "libx264":
            stream.options = {"preset": "veryfast", "crf": str(DEFAULT_CRF)}
        container.start_encoding()  # writes the header even when no frame follows (a zero-frame file)
        for i in range(num_frames):
            frame = av.VideoFrame.from_ndarray(synthetic_frame(i, height, width, noise), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
