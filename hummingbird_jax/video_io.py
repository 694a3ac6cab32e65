"""Writing generated videos to disk (H.264 mp4 and a GIF preview) and reading them back.

Videos are uint8 arrays ``(frames, height, width, 3)`` in RGB. Files are written to a temporary name
in the target directory and moved into place with ``os.replace``, so an interrupted run never leaves a
truncated file under the final name.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from fractions import Fraction
from pathlib import Path

import numpy as np

# Visually lossless for generated content; yuv420p + the mp4 "faststart" layout play everywhere.
DEFAULT_CRF = 18


def to_uint8(video) -> np.ndarray:
    """Decoder output in [−1, 1] (any float array, channels last) → uint8 in [0, 255], rounded."""
    x = np.asarray(video, np.float32)
    return np.round((np.clip(x, -1.0, 1.0) + 1.0) * 127.5).astype(np.uint8)


def _check_video(video) -> np.ndarray:
    video = np.asarray(video)
    if video.ndim != 4 or video.shape[-1] != 3 or video.shape[0] < 1:
        raise ValueError(f"video has shape {video.shape}; expected (frames, height, width, 3)")
    if video.dtype != np.uint8:
        raise ValueError(f"video has dtype {video.dtype}; expected uint8 (see to_uint8)")
    return video


@contextlib.contextmanager
def _atomic_path(path: Path):
    """Yield a temporary file name next to ``path``; move it onto ``path`` only if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # A fresh name (not mkstemp) so the file gets the usual umask permissions rather than 0600.
    tmp = str(path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"))
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _pad_to_even(video: np.ndarray) -> np.ndarray:
    """yuv420p subsamples chroma 2×2, so H.264 needs even sizes: repeat the last row/column if odd."""
    pad_h, pad_w = video.shape[1] % 2, video.shape[2] % 2
    if pad_h or pad_w:
        video = np.pad(video, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    return video


def write_mp4(path, video, fps: float, crf: int = DEFAULT_CRF) -> Path:
    """Encode ``video`` as H.264 (libx264, yuv420p) in an mp4 at ``fps`` (the caller's rate, e.g. the
    models' ``diffusion.sampling.DEFAULT_FPS``); odd sizes are padded by one edge row/column. Returns the
    path written."""
    import av

    path = Path(path)
    video = _pad_to_even(_check_video(video))
    if fps <= 0:
        raise ValueError(f"fps={fps}; expected a positive frame rate")
    rate = Fraction(fps).limit_denominator(1001)
    with _atomic_path(path) as tmp:
        with av.open(tmp, mode="w", format="mp4", options={"movflags": "+faststart"}) as container:
            stream = container.add_stream("libx264", rate=rate)
            stream.width, stream.height = video.shape[2], video.shape[1]
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": str(crf)}
            for frame in video:
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            container.mux(stream.encode(None))
    return path


def write_gif(path, video, fps: float, max_side: int | None = 256) -> Path:
    """A looping GIF preview (Pillow, adaptive palette per frame), downscaled so that its longer side
    is at most ``max_side`` (``None`` keeps the size). Returns the path written."""
    from PIL import Image

    path = Path(path)
    video = _check_video(video)
    if fps <= 0:
        raise ValueError(f"fps={fps}; expected a positive frame rate")
    frames = [Image.fromarray(f) for f in video]
    height, width = video.shape[1:3]
    if max_side is not None and max(height, width) > max_side:
        ratio = max_side / max(height, width)
        size = (max(1, round(width * ratio)), max(1, round(height * ratio)))
        frames = [f.resize(size, Image.Resampling.LANCZOS) for f in frames]
    with _atomic_path(path) as tmp:
        frames[0].save(
            tmp, format="GIF", save_all=True, append_images=frames[1:], duration=round(1000 / fps), loop=0
        )
    return path


def read_video(path) -> np.ndarray:
    """Decode every frame of a video file (mp4, gif, …) into uint8 ``(frames, height, width, 3)``."""
    import av

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"video file not found: {path}")
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    if not frames:
        raise ValueError(f"{path}: no video frames decoded")
    return np.stack(frames)


def video_info(path) -> dict:
    """Codec, pixel format, size, frame count and frame rate of a video file's first video stream."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for packet in container.demux(stream) if packet.size)
        return {
            "codec": stream.codec_context.name,
            "pix_fmt": stream.codec_context.pix_fmt,
            "width": stream.codec_context.width,
            "height": stream.codec_context.height,
            "frames": frames,
            "fps": float(stream.average_rate) if stream.average_rate else None,
        }
