"""Video clips for training, straight from the videos of a manifest (Grain, PyAV).

Each row gives one clip per epoch: a random stride ``s ~ U{1..max_stride}`` (capped at what the file
can hold), a random start (leaving the first ``skip_first`` frames out when the file is long enough),
frames resized to cover ``size`` and centre-cropped, values in [-1, 1], and the fps condition
``fps_orig // s``. Rows that cannot give a clip are skipped and counted (see ``pipeline``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import grain
import numpy as np

from hummingbird_jax.data.decode import ClipError, read_clip
from hummingbird_jax.data.input_pipeline import Loader, Skipped, make_loader, sharded_random_map
from hummingbird_jax.data.manifest import Manifest
from hummingbird_jax.text import tokenize

Tokenizer = Callable[[Sequence[str]], np.ndarray]


def default_tokenize(texts: Sequence[str], context_length: int = 77) -> np.ndarray:
    """OpenCLIP tokens ``(B, context_length)`` int32 (77 for OpenCLIP's towers; a text encoder built
    with a shorter context gets shorter sequences); the BPE table loads on first use, so workers load it
    only if needed."""
    return np.asarray(tokenize(list(texts), context_length), np.int32)


@dataclasses.dataclass(frozen=True)
class ClipConfig:
    """How clips are cut: ``frames`` of ``size`` (height, width), no default here (training's are
    ``data.frames``/``data.size``, the released models' shape); the rest default to the paper's stride
    U{1..6} and skip ~35."""

    frames: int
    size: tuple[int, int]
    max_stride: int = 6
    min_stride: int = 1
    skip_first: int = 35
    empty_captions: str = "skip"  # "skip" (count and drop) or "keep" (train on an empty prompt)

    def __post_init__(self):
        object.__setattr__(self, "size", tuple(int(s) for s in self.size))
        if self.frames < 1 or len(self.size) != 2 or min(self.size) < 1:
            raise ValueError(f"ClipConfig: need frames >= 1 and size (h, w) >= 1, got {self.frames}, {self.size}")
        if not 1 <= self.min_stride <= self.max_stride:
            raise ValueError(f"ClipConfig: need 1 <= min_stride <= max_stride, got {self.min_stride}, {self.max_stride}")
        if self.empty_captions not in ("skip", "keep"):
            raise ValueError(f"ClipConfig.empty_captions must be 'skip' or 'keep', got {self.empty_captions!r}")


@dataclasses.dataclass(frozen=True)
class ClipTransform:
    """Manifest row (+ per-index RNG) → example dict, or :class:`Skipped`.

    Frames stay uint8 here (a quarter of the memory in prefetch buffers); :func:`to_model_inputs`
    turns the batch into float32 in [-1, 1].
    """

    cfg: ClipConfig
    tokenizer: Tokenizer = default_tokenize
    random: bool = True  # False: fixed clips (smallest stride of the range, earliest start)

    def __call__(self, row: dict[str, Any], rng: np.random.Generator | None = None) -> dict | Skipped:
        cfg = self.cfg
        text = str(row["text"]).strip()
        if not text and cfg.empty_captions == "skip":
            return Skipped("empty_caption", row["path"])
        try:
            clip = read_clip(
                row["path"],
                frames=cfg.frames,
                size=cfg.size,
                stride_range=(cfg.min_stride, cfg.max_stride),
                skip_first=cfg.skip_first,
                rng=rng if self.random else None,
                fps=row.get("fps"),
                frame_range=(_optional_int(row.get("start_frame")), _optional_int(row.get("end_frame"))),
            )
        except ClipError as err:
            return Skipped(err.reason, row["path"])
        out = {
            "video": clip.frames,
            "tokens": np.asarray(self.tokenizer([text]), np.int32)[0],
            "fps": np.int32(round(clip.fps_orig) // clip.stride),
            "stride": np.int32(clip.stride),
            "start": np.int32(clip.start),
            "fps_orig": np.float32(clip.fps_orig),
            "index": np.int64(row["index"]),
            "text": text,
            "path": row["path"],
        }
        for name, value in row.items():
            if name not in out and name != "fps":
                out[name] = value
        return out


def _optional_int(value) -> int | None:
    """A manifest cell as an int; empty cells (None, NaN, "") mean "not given"."""
    if value is None or value == "" or (isinstance(value, float) and np.isnan(value)):
        return None
    return int(value)


def to_model_inputs(batch: dict[str, Any]) -> dict[str, Any]:
    """uint8 frames → float32 in [-1, 1] (in the worker, so the trainer's process does no pixel work)."""
    batch["video"] = batch["video"].astype(np.float32) * np.float32(1 / 127.5) - np.float32(1.0)
    return batch


def clip_dataset(
    manifest: Manifest | str,
    cfg: ClipConfig,
    *,
    seed: int,
    tokenizer: Tokenizer | None = None,
    shard_index: int | None = None,
    shard_count: int | None = None,
    num_epochs: int | None = None,
    shuffle: bool = True,
    random_clips: bool = True,
) -> grain.MapDataset:
    """Random-access dataset of this process's examples (uint8 ``video``; some may be :class:`Skipped`)."""
    if isinstance(manifest, str):
        manifest = Manifest(manifest)
    transform = ClipTransform(cfg, tokenizer or default_tokenize, random_clips)
    return sharded_random_map(manifest, transform, seed=seed, shard_index=shard_index, shard_count=shard_count,
                              shuffle=shuffle, num_epochs=num_epochs)


def clip_loader(
    manifest: Manifest | str,
    cfg: ClipConfig,
    *,
    batch_size: int,
    seed: int,
    tokenizer: Tokenizer | None = None,
    num_workers: int = 0,
    shard_index: int | None = None,
    shard_count: int | None = None,
    num_epochs: int | None = None,
    shuffle: bool = True,
    random_clips: bool = True,
    drop_remainder: bool = True,
    read_threads: int = 1,
) -> Loader:
    """Batches of clips for this process: ``video (b,t,h,w,3)`` float32 in [-1, 1], ``tokens (b, L)``
    int32 (L the tokenizer's context length, 77 by default), ``fps (b,)`` int32, plus ``stride``,
    ``start``, ``fps_orig``, ``index``, ``text``, ``path`` and any extra manifest columns.
    ``batch_size`` is per process.

    ``num_workers`` worker processes decode in parallel (0: in this process); each decodes with
    ``read_threads`` threads and a small look-ahead, so memory stays at a few batches per worker.
    """
    if isinstance(manifest, str):
        manifest = Manifest(manifest)
    ds = clip_dataset(
        manifest, cfg, seed=seed, tokenizer=tokenizer, shard_index=shard_index, shard_count=shard_count,
        num_epochs=num_epochs, shuffle=shuffle, random_clips=random_clips,
    )
    read = grain.ReadOptions(num_threads=read_threads, prefetch_buffer_size=max(2, batch_size))
    return make_loader(
        ds, batch_size=batch_size, num_workers=num_workers, drop_remainder=drop_remainder,
        give_up_after=max(len(manifest), 1), read_options=read, postprocess=to_model_inputs, name="clips",
    )
