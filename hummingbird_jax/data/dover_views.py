"""DOVER's view decomposition (``spatial_temporal_view_decomposition``) in numpy, with PyAV decoding.

Two views of one video, each a stack of clips:

* technical: ``num_clips`` temporal segments of ``clip_len`` frames ``frame_interval`` apart, each
  frame cut into a ``fragments_h × fragments_w`` grid of ``fsize``-pixel patches taken at native
  resolution (one random offset inside each grid cell, shared by ``aligned`` consecutive frames);
  videos smaller than the fragment mosaic are first upscaled (bilinear);
* aesthetic: ``t_frag`` frames, one per equal segment of the video, each squashed to
  ``size_h × size_w`` with torchvision's antialiased bilinear resize.

Randomness follows the official code draw for draw, so a seed gives the official sampler's views:
frame offsets come from numpy's legacy ``RandomState`` (``np.random.randint``) and fragment offsets
from an MT19937 stream used as ``torch.randint`` uses its CPU generator (raw 32-bit outputs modulo
the range). ``sample_dover_views(path, seed=s)`` equals the official sampler after
``np.random.seed(s); torch.manual_seed(s)`` on the same decoded frames.

Frames are decoded with PyAV in presentation order; frame ``i`` is the ``i``-th decoded frame.
"""

from __future__ import annotations

import numpy as np

from hummingbird_jax.pixel_stats import IMAGENET_MEAN, IMAGENET_STD

__all__ = [
    "DEFAULT_SAMPLE_TYPES",
    "MEAN",
    "STD",
    "count_frames",
    "read_frames",
    "frame_indices",
    "fragment_view",
    "resized_view",
    "sample_dover_views",
    "normalize_view",
    "clips_first",
]

# dover.yml, data.val-*.args.sample_types (the released test settings).
DEFAULT_SAMPLE_TYPES = {
    "technical": dict(fragments_h=7, fragments_w=7, fsize_h=32, fsize_w=32, aligned=32, clip_len=32,
                      frame_interval=2, num_clips=3),
    "aesthetic": dict(size_h=224, size_w=224, clip_len=32, frame_interval=2, t_frag=32, num_clips=1),
}
MEAN = (np.asarray(IMAGENET_MEAN) * 255).astype(np.float32)  # DOVER normalises uint8 values
STD = (np.asarray(IMAGENET_STD) * 255).astype(np.float32)


class _TorchLikeRandint:
    """``torch.randint(high, size)`` on the CPU generator after ``torch.manual_seed(seed)``."""

    def __init__(self, seed: int):
        self._state = np.random.RandomState(seed)  # the same MT19937 seeding (init_genrand)

    def __call__(self, high: int, size: tuple[int, ...]) -> np.ndarray:
        raw = self._state.randint(0, 2**32, size=int(np.prod(size)), dtype=np.uint64)
        return (raw % np.uint64(high)).astype(np.int64).reshape(size)


# ---------------------------------------------------------------------------------------------
# Decoding


def count_frames(path) -> int:
    """Video frames in the file's first video stream (packets with data, as a demuxer counts them)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return sum(1 for packet in container.demux(stream) if packet.size)


def read_frames(path, indices) -> dict[int, np.ndarray]:
    """RGB uint8 ``(H, W, 3)`` for each wanted frame index, decoding once up to the last one."""
    import av

    wanted = set(int(i) for i in indices)
    last = max(wanted)
    out = {}
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for number, frame in enumerate(container.decode(stream)):
            if number in wanted:
                out[number] = frame.to_ndarray(format="rgb24")
            if number >= last:
                break
    missing = wanted - set(out)
    if missing:
        raise ValueError(f"{path}: frames {sorted(missing)[:5]} could not be decoded ({len(out)} of {len(wanted)})")
    return out


# ---------------------------------------------------------------------------------------------
# Temporal sampling (UnifiedFrameSampler)


def _temporal_layout(opt: dict) -> tuple[int, int, int, int]:
    """(frames per segment, segments, interval, repeats), as ``ViewDecompositionDataset`` builds its samplers."""
    if "t_frag" in opt:
        return opt["clip_len"] // opt["t_frag"], opt["t_frag"], opt["frame_interval"], opt["num_clips"]
    return opt["clip_len"], opt["num_clips"], opt["frame_interval"], 1


def frame_indices(num_frames: int, opt: dict, rng: np.random.RandomState) -> np.ndarray:
    """Frame numbers of one view (``UnifiedFrameSampler.__call__``, no drop)."""
    fsize, segments, interval, repeats = _temporal_layout(opt)
    parts = []
    for _ in range(repeats):
        grid = np.array([num_frames // segments * i for i in range(segments)], np.int32)
        length = num_frames // segments
        if length > fsize * interval:
            offset = rng.randint(0, length - fsize * interval, size=len(grid))
        else:
            offset = np.zeros(len(grid), np.int32)
        parts.append((np.arange(fsize)[None, :] * interval + offset[:, None] + grid[:, None]).reshape(-1))
    return np.mod(np.concatenate(parts), num_frames).astype(np.int32)


# ---------------------------------------------------------------------------------------------
# Spatial views


def _fma(a, b, c) -> np.ndarray:
    """float32 ``a * b + c`` rounded once, as PyTorch's compiled CPU kernels compute it."""
    return (a.astype(np.float64) * b.astype(np.float64) + c.astype(np.float64)).astype(np.float32)


def _upsample_bilinear(video: np.ndarray, factor: float) -> np.ndarray:
    """``F.interpolate(video / 255, scale_factor=factor, mode="bilinear") * 255`` cast back to uint8
    (truncation), float32 arithmetic, ``align_corners=False``."""
    t, h, w, c = video.shape
    x = video.astype(np.float32) / np.float32(255.0)

    def axis_weights(size):
        out = int(np.floor(size * factor))
        scale = np.float64(np.float32(1.0 / factor))  # a float scale, the source index in double
        src = np.maximum(scale * (np.arange(out) + 0.5) - 0.5, 0.0).astype(np.float32)
        i0 = src.astype(np.int64)
        lam1 = (src - i0.astype(np.float32)).astype(np.float32)
        i1 = i0 + (i0 < size - 1)
        return i0, i1, (np.float32(1) - lam1).astype(np.float32), lam1

    h0, h1, hl0, hl1 = axis_weights(h)
    w0, w1, wl0, wl1 = axis_weights(w)
    wl0, wl1 = wl0[None, None, :, None], wl1[None, None, :, None]
    hl0, hl1 = hl0[None, :, None, None], hl1[None, :, None, None]
    rows0, rows1 = x[:, h0], x[:, h1]
    top = _fma(rows0[:, :, w0], wl0, rows0[:, :, w1] * wl1)
    bottom = _fma(rows1[:, :, w0], wl0, rows1[:, :, w1] * wl1)
    y = _fma(top, hl0, bottom * hl1)
    return (y * np.float32(255.0)).astype(np.uint8)


def fragment_view(video: np.ndarray, opt: dict, randint) -> np.ndarray:
    """``get_spatial_fragments`` (non-random grid, upsample fallback): ``(T, H, W, 3)`` uint8 ->
    ``(T, fragments_h·fsize_h, fragments_w·fsize_w, 3)`` uint8."""
    fh, fw = opt.get("fragments_h", 7), opt.get("fragments_w", 7)
    sh, sw = opt.get("fsize_h", 32), opt.get("fsize_w", 32)
    aligned = 1 if video.shape[0] == 1 else opt.get("aligned", 32)
    dur, res_h, res_w = video.shape[:3]
    ratio = min(res_h / (fh * sh), res_w / (fw * sw))
    if ratio < 1:
        video = _upsample_bilinear(video, 1 / ratio)
    if dur % aligned:
        raise ValueError(f"technical view: {dur} frames is not a multiple of aligned={aligned}")
    # The grid is laid out on the size before any upsampling, as the official code does.
    hgrid = [min(res_h // fh * i, res_h - sh) for i in range(fh)]
    wgrid = [min(res_w // fw * i, res_w - sw) for i in range(fw)]
    hlength, wlength = res_h // fh, res_w // fw
    chunks = dur // aligned
    rnd_h = randint(hlength - sh, (fh, fw, chunks)) if hlength > sh else np.zeros((fh, fw, chunks), np.int64)
    rnd_w = randint(wlength - sw, (fh, fw, chunks)) if wlength > sw else np.zeros((fh, fw, chunks), np.int64)
    out = np.zeros((dur, fh * sh, fw * sw, video.shape[-1]), np.uint8)
    for i, hs in enumerate(hgrid):
        for j, ws in enumerate(wgrid):
            for t in range(chunks):
                top, left = hs + rnd_h[i, j, t], ws + rnd_w[i, j, t]
                out[t * aligned:(t + 1) * aligned, i * sh:(i + 1) * sh, j * sw:(j + 1) * sw] = \
                    video[t * aligned:(t + 1) * aligned, top:top + sh, left:left + sw]
    return out


def _aa_weights(in_size: int, out_size: int):
    """Antialiased linear-filter taps of PyTorch's CPU ``interpolate(antialias=True)`` (float32)."""
    f32 = np.float32
    scale = f32(in_size) / f32(out_size)
    support = f32(scale) if scale >= 1.0 else f32(1.0)
    invscale = f32(1.0 / float(scale)) if scale >= 1.0 else f32(1.0)
    starts, taps = [], []
    for i in range(out_size):
        center = f32(float(scale) * (i + 0.5))
        xmin = max(int(float(center - support) + 0.5), 0)
        xmax = min(int(float(center + support) + 0.5), in_size)
        w = []
        for j in range(xmax - xmin):
            x = f32((float(f32(j + xmin) - center) + 0.5) * float(invscale))
            w.append(max(f32(0), f32(1) - abs(x)) if abs(x) < 1 else f32(0))
        w = np.array(w, np.float32)
        total = np.float32(0)
        for v in w:
            total = np.float32(total + v)
        if total != 0:
            w = (w / total).astype(np.float32)
        starts.append(xmin)
        taps.append(w)
    return starts, taps


def _resample_axis(x: np.ndarray, axis: int, out_size: int) -> np.ndarray:
    in_size = x.shape[axis]
    if in_size == out_size:
        return x
    starts, taps = _aa_weights(in_size, out_size)
    x = np.moveaxis(x, axis, 0)
    out = np.empty((out_size,) + x.shape[1:], np.float32)
    for i, (start, w) in enumerate(zip(starts, taps)):
        acc = x[start] * w[0]
        for j in range(1, len(w)):
            acc = _fma(x[start + j], w[j], acc)
        out[i] = acc
    return np.moveaxis(out, 0, axis)


def resized_view(video: np.ndarray, opt: dict) -> np.ndarray:
    """``get_resized_video`` (``torchvision.transforms.Resize((size_h, size_w))`` on uint8 frames:
    float32 antialiased bilinear, width first, then rounded half to even).

    Bit-exact for the fixtures' scale factors (up to ~3 taps per output pixel); with many taps
    PyTorch's vectorised kernel sums in another order, which moves a handful of pixels by one level."""
    x = video.astype(np.float32)
    x = _resample_axis(x, 2, opt.get("size_w", 224))
    x = _resample_axis(x, 1, opt.get("size_h", 224))
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def sample_dover_views(path, sample_types: dict | None = None, *, seed: int = 0, frames=None, frame_range=None):
    """Both views of one video: ``({branch: uint8 (T, H, W, 3)}, {branch: frame indices})``.

    ``frames`` (optional) is an already decoded ``(N, H, W, 3)`` uint8 array of the whole video;
    ``frame_range`` ``(start, end)`` samples only inside that clip of the file (indices returned are
    the file's frame numbers)."""
    sample_types = sample_types or DEFAULT_SAMPLE_TYPES
    temporal = np.random.RandomState(seed)
    total = len(frames) if frames is not None else count_frames(path)
    first, last = (0, total) if frame_range is None else (int(frame_range[0]), min(int(frame_range[1]), total))
    if last - first < 1:
        raise ValueError(f"{path}: no video frames in {first}..{last} (the file has {total})")
    indices = {b: first + frame_indices(last - first, opt, temporal) for b, opt in sample_types.items()}
    if frames is None:
        decoded = read_frames(path, np.unique(np.concatenate(list(indices.values()))))
        stack = {b: np.stack([decoded[int(i)] for i in idx]) for b, idx in indices.items()}
    else:
        stack = {b: np.asarray(frames)[idx] for b, idx in indices.items()}
    randint = _TorchLikeRandint(seed)
    views = {}
    for branch, opt in sample_types.items():
        if branch.startswith("technical"):
            views[branch] = fragment_view(stack[branch], opt, randint)
        elif branch.startswith("aesthetic"):
            views[branch] = resized_view(stack[branch], opt)
        else:
            raise ValueError(f"unknown DOVER view {branch!r}; expected technical or aesthetic")
    return views, indices


def normalize_view(view: np.ndarray) -> np.ndarray:
    """uint8 frames -> the network input ``(x - MEAN) / STD`` in float32."""
    return (view.astype(np.float32) - MEAN) / STD


def clips_first(view: np.ndarray, num_clips: int) -> np.ndarray:
    """``(num_clips·T, H, W, 3)`` -> ``(num_clips, T, H, W, 3)``: one row per clip, as the official
    evaluation reshapes ``(b, c, clips·t, h, w)`` before the network."""
    total = view.shape[0]
    if total % num_clips:
        raise ValueError(f"{total} frames cannot be split into {num_clips} clips")
    return view.reshape(num_clips, total // num_clips, *view.shape[1:])
