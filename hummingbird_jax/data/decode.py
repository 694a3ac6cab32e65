"""Read one training clip out of a video file with PyAV: seek, decode only up to the last needed frame.

A clip is ``frames`` frames ``stride`` apart. Only the wanted frames are converted to RGB (scaled by
FFmpeg's swscale in the same step); the frames in between must still be decoded (inter-frame codecs),
but never converted. Files that cannot give a clip raise :class:`ClipError` with a short reason, which
the pipelines count instead of crashing.
"""

from __future__ import annotations

import dataclasses
import math
import os

import av
import numpy as np

# Why a row gave no clip. Order is fixed: the pipelines count skips in arrays indexed by it.
SKIP_REASONS = ("unreadable", "no_video_stream", "no_frames", "too_short", "truncated", "empty_caption")


class ClipError(Exception):
    """This file cannot give the requested clip; ``reason`` is one of :data:`SKIP_REASONS`."""

    def __init__(self, reason: str, path: str, detail: str = ""):
        assert reason in SKIP_REASONS, reason
        super().__init__(f"{path}: {reason}{': ' + detail if detail else ''}")
        self.reason = reason
        self.path = path


@dataclasses.dataclass(frozen=True)
class Clip:
    frames: np.ndarray  # uint8 (t, h, w, 3)
    fps_orig: float  # frame rate of the file (or the manifest's override)
    stride: int
    start: int  # index of the first frame in the file


def resized_size(height: int, width: int, size: tuple[int, int]) -> tuple[int, int]:
    """Smallest (h, w) with the source aspect ratio that covers ``size``.

    For sources at least as wide as the target (e.g. 16:9 into 320×512) this resizes the short side
    to ``size[0]``, as the paper's pipeline does; narrower sources are scaled up to the target width
    so the centre crop always fits.
    """
    th, tw = size
    scale = max(th / height, tw / width)
    return max(th, round(height * scale)), max(tw, round(width * scale))


def choose_window(
    num_frames: int,
    frames: int,
    stride_range: tuple[int, int],
    skip_first: int,
    rng: np.random.Generator | None,
) -> tuple[int, int] | None:
    """(start, stride) of a clip inside ``num_frames``, or None when even the smallest stride won't fit.

    The stride is uniform over ``stride_range`` capped at the largest stride that fits; the start is
    uniform over the positions that leave the first ``skip_first`` frames out when the file is long
    enough, else as late as possible. Without ``rng`` both take their smallest value (fixed clips).
    """
    lo, hi = stride_range
    if num_frames < 1:
        return None
    if frames > 1:
        hi = min(hi, (num_frames - 1) // (frames - 1))
    if hi < lo:
        return None
    stride = int(rng.integers(lo, hi + 1)) if rng is not None else lo
    last_start = num_frames - ((frames - 1) * stride + 1)
    first_start = min(skip_first, last_start)
    start = int(rng.integers(first_start, last_start + 1)) if rng is not None else first_start
    return start, stride


def _frame_count(stream: av.video.stream.VideoStream, container, fps: float) -> int:
    if stream.frames:
        return int(stream.frames)
    # Containers without a frame count (e.g. WebM): estimate from the duration, one frame short so an
    # estimate that rounds up does not ask for a frame that is not there.
    if stream.duration is not None and stream.time_base is not None:
        seconds = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        seconds = container.duration / av.time_base
    else:
        return 0
    return max(0, math.floor(seconds * fps) - 1)


def read_clip(
    path: str,
    *,
    frames: int,
    size: tuple[int, int],
    stride_range: tuple[int, int] = (1, 1),
    skip_first: int = 0,
    rng: np.random.Generator | None = None,
    fps: float | None = None,
    frame_range: tuple[int | None, int | None] = (None, None),
) -> Clip:
    """Decode a clip of ``frames`` frames, resized to cover ``size`` and centre-cropped to it.

    ``fps`` overrides the file's frame rate (for files whose header is wrong). ``frame_range``
    (start, end exclusive) confines the clip to one scene of the file, as written by the curation
    pipeline's ``split`` stage (``start_frame``/``end_frame`` columns). Raises
    :class:`ClipError` for unreadable, frame-less, too-short or truncated files.
    """
    if not os.path.isfile(path) or os.path.getsize(path) == 0:
        raise ClipError("unreadable", path, "missing or empty file")
    try:
        container = av.open(path)
    except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError) as err:
        raise ClipError("unreadable", path, str(err)) from err
    with container:
        if not container.streams.video:
            raise ClipError("no_video_stream", path)
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = fps or float(stream.average_rate or stream.guessed_rate or 0)
        if rate <= 0:
            raise ClipError("unreadable", path, "no frame rate in the file or the manifest")
        num_frames = _frame_count(stream, container, rate)
        if num_frames == 0:
            raise ClipError("no_frames", path)
        first = int(frame_range[0] or 0)
        last = min(num_frames, int(frame_range[1])) if frame_range[1] is not None else num_frames
        # Scenes already start at a cut, so the lead-in skip applies to whole files only.
        window = choose_window(last - first, frames, stride_range, 0 if first else skip_first, rng)
        if window is None:
            raise ClipError(
                "too_short", path, f"{last - first} frames < {frames} at stride {stride_range[0]}"
            )
        start, stride = window
        start += first
        wanted = list(range(start, start + frames * stride, stride))
        try:
            out = _decode_frames(container, stream, wanted, rate, size)
        except (av.FFmpegError, OSError, ValueError) as err:
            raise ClipError("truncated", path, str(err)) from err
        if len(out) < frames:
            raise ClipError("truncated", path, f"decoded {len(out)} of {frames} frames")
        return Clip(np.stack(out), rate, stride, start)


def _decode_frames(container, stream, wanted: list[int], rate: float, size: tuple[int, int]):
    """RGB frames for the frame indices ``wanted`` (sorted), the first frame at or after each index."""
    tb = float(stream.time_base)
    t0 = stream.start_time or 0
    if wanted[0] > 0:
        # Seek lands on the key frame at or before the target; decoding walks forward from there.
        container.seek(t0 + int(wanted[0] / rate / tb), stream=stream, backward=True, any_frame=False)
    th, tw = size
    out: list[np.ndarray] = []
    nxt = 0
    for frame in container.decode(stream):
        if frame.pts is None:
            continue
        index = round((frame.pts - t0) * tb * rate)
        if index < wanted[nxt]:
            continue
        rh, rw = resized_size(frame.height, frame.width, size)
        rgb = frame.to_ndarray(format="rgb24", width=rw, height=rh, interpolation="AREA")
        top, left = (rh - th) // 2, (rw - tw) // 2
        crop = np.ascontiguousarray(rgb[top : top + th, left : left + tw])
        # A frame at or past several wanted indices (variable frame rate) stands in for each of them.
        while nxt < len(wanted) and wanted[nxt] <= index:
            out.append(crop)
            nxt += 1
        if nxt == len(wanted):
            break
    return out
