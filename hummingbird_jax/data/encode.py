"""``hummingbird data encode``: fixed clips of a manifest → VAE latents (+ text) → TFDS dataset.

The job runs chunk by chunk (``chunk_size`` manifest rows each). A finished chunk is one atomic
``.npz`` under ``OUT/encoding/chunks``; a restarted job skips those and continues with the next, so a
killed run loses at most one chunk. When every chunk is there, the TFDS dataset is written from them
(``latents.build_dataset``) and the chunks are removed unless asked to keep them.

The encoder is pluggable (:class:`LatentEncoder`): :class:`FrozenEncoders` runs the project's VAE and
text tower, jitted, on whatever accelerator JAX has, a fixed batch shape at a time.

``engine="ray"`` encodes the missing chunks on a pool of Ray actors (one GPU each when the cluster
has GPUs), each building its own encoder with ``encoder_factory``; the driver writes every chunk it
gets back, so the chunks, the resume rule and the TFDS dataset are the same as with the local engine.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import logging
import os
import pickle
import shutil
import types
from typing import Any, Callable, Protocol

import grain
import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
from tqdm.auto import tqdm

from hummingbird_jax import model_dir
from hummingbird_jax.convert.checkpoint_io import load_torch_checkpoint
from hummingbird_jax.convert.clip import text_encoder_from_torch
from hummingbird_jax.convert.full_model import TEXT_PREFIX, text_config_from_state_dict
from hummingbird_jax.convert.vae import vae_from_torch
from hummingbird_jax.data.clips import ClipConfig, ClipTransform, Tokenizer, default_tokenize
from hummingbird_jax.data.decode import SKIP_REASONS
from hummingbird_jax.data.input_pipeline import Skipped, ensure_absl_flags_parsed
from hummingbird_jax.data.latents import (
    FORMAT_VERSION,
    LatentSpec,
    build_dataset,
    chunk_path,
    dataset_dir_of,
    write_chunk,
)
from hummingbird_jax.data.manifest import Manifest, file_digest
from hummingbird_jax.data.ray_cluster import RayOptions, actors_that_fit, connect
from hummingbird_jax.models.clip import CLIPTextEncoder
from hummingbird_jax.models.vae import AutoencoderKL, VAEConfig

log = logging.getLogger(__name__)


class LatentEncoder(Protocol):
    """What the encode job needs from the frozen models."""

    latent_channels: int
    downsample: int
    scale_factor: float
    description: str

    def encode_video(self, video: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(b, t, H, W, 3)`` float32 in [-1, 1] → posterior ``(mean, logvar)``, each ``(b, t, H/f, W/f, C)``."""

    def context_shape(self) -> tuple[int, int] | None:
        """``(77, D)`` when :meth:`encode_text` gives text contexts, else None (tokens only)."""

    def encode_text(self, tokens: np.ndarray) -> np.ndarray:
        """``(b, 77)`` int32 → ``(b, 77, D)``."""


class EncodeError(ValueError):
    """A resumed job does not match what is already in the output folder."""


@dataclasses.dataclass
class EncodeSummary:
    dataset_dir: str
    encoded: int
    skipped: dict[str, int]
    chunks_done_before: int
    already_complete: bool = False


def _bf16(x) -> np.ndarray:
    return np.asarray(x, np.float32).astype(ml_dtypes.bfloat16)


def _check_plan(plan_path: str, plan: dict[str, Any]) -> None:
    plan = json.loads(json.dumps(plan))  # tuples → lists, as read back from the file
    if os.path.exists(plan_path):
        with open(plan_path) as f:
            old = json.load(f)
        diff = sorted(k for k in set(old) | set(plan) if old.get(k) != plan.get(k))
        if diff:
            details = ", ".join(f"{k}: {old.get(k)!r} → {plan.get(k)!r}" for k in diff)
            raise EncodeError(
                f"{os.path.dirname(plan_path)!r} holds an encoding with other settings ({details}); "
                "use a new --out folder or delete that one"
            )
    else:
        tmp = plan_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(plan, f, indent=1, sort_keys=True)
        os.replace(tmp, plan_path)


def _clip_stream(manifest: Manifest, lo: int, hi: int, transform: ClipTransform, num_workers: int):
    """Decoded fixed clips (or :class:`Skipped`) of rows ``lo..hi``, in row order."""
    ds = grain.MapDataset.source(manifest)[lo:hi].map(transform)
    it = ds.to_iter_dataset(grain.ReadOptions(num_threads=1, prefetch_buffer_size=4))
    if num_workers > 0:
        ensure_absl_flags_parsed()
        it = it.mp_prefetch(grain.MultiprocessingOptions(num_workers=num_workers, per_worker_buffer_size=2))
    return iter(it)


def _encode_batch(encoder: LatentEncoder, items: list[dict], batch_size: int, with_context: bool) -> dict[str, np.ndarray]:
    """Encode ``items`` padded to ``batch_size`` (one compiled shape), then trim the padding."""
    n = len(items)
    video = np.stack([it["video"] for it in items] + [items[-1]["video"]] * (batch_size - n))
    video = video.astype(np.float32) * np.float32(1 / 127.5) - np.float32(1.0)
    mean, logvar = encoder.encode_video(video)
    out = {"mean": _bf16(np.asarray(mean)[:n]), "logvar": _bf16(np.asarray(logvar)[:n])}
    tokens = np.stack([it["tokens"] for it in items] + [items[-1]["tokens"]] * (batch_size - n))
    if with_context:
        out["context"] = _bf16(np.asarray(encoder.encode_text(tokens))[:n])
    return out


def encode_manifest(
    manifest_path: str,
    out_dir: str,
    encoder: LatentEncoder,
    *,
    frames: int,
    stride: int,
    size: tuple[int, int] = (320, 512),
    skip_first: int = 0,
    posterior: str = "moments",
    text_context: bool = False,
    batch_size: int = 4,
    chunk_size: int = 256,
    num_workers: int = 0,
    tokenizer: Tokenizer | None = None,
    keep_chunks: bool = False,
    progress: bool = True,
    on_chunk: Callable[[int], None] | None = None,
    engine: str = "local",
    encoder_factory: Callable[[], LatentEncoder] | None = None,
    ray=None,
) -> EncodeSummary:
    """Encode every row of the manifest as one fixed clip (``frames`` frames ``stride`` apart, from
    frame ``skip_first`` or as late as the file allows) and write the TFDS dataset under ``out_dir``.

    Rows that give no clip are skipped and counted. ``on_chunk(k)`` is called after chunk ``k`` is
    written (progress hooks; tests use it to stop a job part-way). ``engine="ray"`` needs
    ``encoder_factory`` (builds the same encoder inside each actor) and takes ``ray``, a
    :class:`hummingbird_jax.data.ray_cluster.RayOptions`.
    """
    manifest = Manifest(manifest_path)
    context_shape = encoder.context_shape() if text_context else None
    if text_context and context_shape is None:
        raise EncodeError("text contexts were asked for but the encoder has no text tower")
    spec = LatentSpec(
        frames=frames, stride=stride, size=tuple(size), skip_first=skip_first,
        latent_channels=encoder.latent_channels, downsample=encoder.downsample,
        scale_factor=float(encoder.scale_factor), posterior=posterior, context_shape=context_shape,
        manifest=os.path.abspath(manifest_path), manifest_sha256=file_digest(manifest_path),
        model=encoder.description,
    )
    work = os.path.join(out_dir, "encoding")
    chunks_dir = os.path.join(work, "chunks")
    os.makedirs(chunks_dir, exist_ok=True)
    _check_plan(os.path.join(work, "plan.json"), {**spec.to_json(), "chunk_size": chunk_size, "format": FORMAT_VERSION})
    finished = dataset_dir_of(out_dir)
    if finished is not None:
        log.info("encode: %s is already complete; nothing to do", finished)
        import tensorflow_datasets as tfds  # deferred: TFDS is slow to import and only read here

        count = tfds.builder_from_directory(finished).info.splits["train"].num_examples
        return EncodeSummary(finished, count, {}, 0, already_complete=True)

    transform = ClipTransform(
        ClipConfig(frames=frames, size=tuple(size), min_stride=stride, max_stride=stride, skip_first=skip_first),
        tokenizer or default_tokenize,
        random=False,
    )
    n_chunks = -(-len(manifest) // chunk_size)
    done_before = sum(os.path.exists(chunk_path(chunks_dir, k)) for k in range(n_chunks))
    bar = tqdm(total=len(manifest), desc="encode", unit="clip", disable=not progress)
    missing = [k for k in range(n_chunks) if not os.path.exists(chunk_path(chunks_dir, k))]
    bar.update(len(manifest) - sum(min(len(manifest), (k + 1) * chunk_size) - k * chunk_size for k in missing))
    if engine == "ray":
        if encoder_factory is None:
            raise EncodeError("engine='ray' needs encoder_factory (each actor builds its own encoder)")
        done = _encode_chunks_on_ray(manifest_path, missing, chunk_size, len(manifest), transform, encoder_factory,
                                     spec, batch_size, num_workers, ray)
    else:
        done = ((k, _chunk_arrays(manifest, k * chunk_size, min(len(manifest), (k + 1) * chunk_size), transform,
                                  encoder, spec, batch_size, num_workers, bar)) for k in missing)
    for k, arrays in done:
        write_chunk(chunk_path(chunks_dir, k), arrays)
        if engine == "ray":
            bar.update(min(len(manifest), (k + 1) * chunk_size) - k * chunk_size)
        if on_chunk is not None:
            on_chunk(k)
    bar.close()

    skipped, encoded = np.zeros(len(SKIP_REASONS), np.int64), 0
    for path in glob.glob(os.path.join(chunks_dir, "chunk-*.npz")):
        with np.load(path) as f:
            skipped += f["skipped"]
            encoded += len(f["index"])
    if encoded == 0:
        raise EncodeError(f"no row of {manifest_path!r} gave a clip ({_counts(skipped)})")
    if skipped.any():
        log.warning("encode: skipped %d of %d rows: %s", skipped.sum(), len(manifest), _counts(skipped))
    dataset_dir = build_dataset(out_dir, spec, chunks_dir)
    if not keep_chunks:
        shutil.rmtree(chunks_dir)
    return EncodeSummary(dataset_dir, encoded, _counts(skipped), done_before)


def _counts(skipped: np.ndarray) -> dict[str, int]:
    return {r: int(c) for r, c in zip(SKIP_REASONS, skipped) if c}


def _chunk_arrays(manifest, lo, hi, transform, encoder, spec: LatentSpec, batch_size, num_workers, bar) -> dict:
    """The arrays of one chunk (rows ``lo..hi``), as :func:`write_chunk` stores them."""
    skipped = np.zeros(len(SKIP_REASONS), np.int64)
    parts: list[dict[str, np.ndarray]] = []
    meta: list[dict] = []
    pending: list[dict] = []

    def flush():
        encoded = _encode_batch(encoder, pending, batch_size, spec.context_shape is not None)
        parts.append(encoded)
        meta.extend({k: it[k] for k in ("tokens", "fps", "stride", "start", "fps_orig", "index", "text", "path")} for it in pending)
        pending.clear()

    for item in _clip_stream(manifest, lo, hi, transform, num_workers):
        if bar is not None:
            bar.update(1)
        if isinstance(item, Skipped):
            skipped[SKIP_REASONS.index(item.reason)] += 1
            continue
        pending.append(item)
        if len(pending) == batch_size:
            flush()
    if pending:
        flush()
    arrays: dict[str, np.ndarray] = {"skipped": skipped}
    if meta:
        for key in parts[0]:
            if key != "logvar" or spec.posterior == "moments":
                arrays[key] = np.concatenate([p[key] for p in parts])
        for key in meta[0]:
            arrays[key] = np.array([m[key] for m in meta])
    else:
        arrays["index"] = np.zeros((0,), np.int64)
    return arrays


def _encode_chunks_on_ray(manifest_path, missing, chunk_size, rows, transform, encoder_factory, spec, batch_size,
                          num_workers, options):
    """Yields ``(k, arrays)`` for every chunk in ``missing`` as Ray actors finish them."""
    options = options or RayOptions()
    ray = connect(options.address)
    from ray.data import ActorPoolStrategy, DataContext  # deferred: Ray is an optional extra (connect imported it)

    if not missing:
        return
    cluster = ray.cluster_resources()
    # Resources as for a model stage named "encode" (flags, then one GPU per actor when there are GPUs).
    res = options.resources(types.SimpleNamespace(name="encode", kind="model", batch_size=1), cluster)
    DataContext.get_current().enable_progress_bars = False

    class ChunkEncoder:
        def __init__(self):
            self.encoder = encoder_factory()
            self.manifest = Manifest(manifest_path)

        def __call__(self, batch):
            out = []
            for k in batch["chunk"]:
                lo, hi = int(k) * chunk_size, min(rows, (int(k) + 1) * chunk_size)
                out.append(pickle.dumps(_chunk_arrays(self.manifest, lo, hi, transform, self.encoder, spec, batch_size,
                                                      num_workers, None)))
            return {"chunk": batch["chunk"], "arrays": np.array(out, dtype=object)}

    size = res.actors or max(1, min(len(missing), actors_that_fit(cluster, res)))
    remote = {"num_cpus": res.num_cpus, **({"num_gpus": res.num_gpus} if res.num_gpus else {})}
    dataset = ray.data.from_items([{"chunk": k} for k in missing], override_num_blocks=len(missing))
    mapped = dataset.map_batches(ChunkEncoder, batch_size=1, batch_format="numpy",
                                 compute=ActorPoolStrategy(size=size), **remote)
    for block in mapped.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=0):
        for k, payload in zip(block["chunk"], block["arrays"]):
            yield int(k), pickle.loads(payload)


# ---- the project's frozen models -------------------------------------------------------------------


class FrozenEncoders:
    """The project's VAE (and optionally the OpenCLIP text tower) loaded from a PyTorch checkpoint.

    ``video`` frames are encoded ``frame_chunk`` at a time (``lax.map``), so a batch of 16-frame
    320×512 clips fits in accelerator memory.
    """

    def __init__(self, vae_cfg, vae_params, *, text=None, frame_chunk: int = 8, description: str = ""):
        self.vae_cfg = vae_cfg
        self.latent_channels = vae_cfg.embed_dim
        self.downsample = vae_cfg.downsample_factor
        self.scale_factor = vae_cfg.scale_factor
        self.description = description
        model = AutoencoderKL(vae_cfg)

        def encode_frames(params, video):
            b, t = video.shape[:2]
            frames = video.reshape(b * t, *video.shape[2:])

            def one(x):
                mean, logvar = model.apply({"params": params}, x, method=AutoencoderKL.encode)
                return jnp.concatenate([mean, logvar], axis=-1)

            moments = jax.lax.map(one, frames.reshape(-1, 1, *frames.shape[1:]), batch_size=frame_chunk)
            mean, logvar = jnp.split(moments[:, 0], 2, axis=-1)
            return mean.reshape(b, t, *mean.shape[1:]), logvar.reshape(b, t, *logvar.shape[1:])

        self._vae_params = vae_params
        self._encode = jax.jit(encode_frames)
        self._text = None
        if text is not None:
            text_cfg, text_params = text
            encoder = CLIPTextEncoder(text_cfg)
            self._text_cfg, self._text_params = text_cfg, text_params
            self._text = jax.jit(lambda p, tokens: encoder.apply({"params": p}, tokens))

    def encode_video(self, video: np.ndarray):
        mean, logvar = self._encode(self._vae_params, video)
        return np.asarray(mean), np.asarray(logvar)

    def context_shape(self) -> tuple[int, int] | None:
        return None if self._text is None else (self._text_cfg.context_length, self._text_cfg.width)

    def encode_text(self, tokens: np.ndarray) -> np.ndarray:
        return np.asarray(self._text(self._text_params, tokens))


def load_frozen_encoders(
    model: str,
    *,
    config: str | None = None,
    text_context: bool = False,
    text_heads: int | None = None,
    dtype: str = "float32",
    frame_chunk: int = 8,
) -> FrozenEncoders:
    """The VAE (and text tower) from ``model``: a converted model directory (``model.json`` with
    ``vae`` and ``text_encoder`` components) or a PyTorch/safetensors checkpoint (a whole
    VideoCrafter2/Hummingbird checkpoint or a bare VAE). ``config`` is the official YAML giving the
    VAE's shape for a checkpoint (default: SD KL-f8)."""
    if os.path.isdir(model):
        found = model_dir.components(model)
        needed = ["vae"] + (["text_encoder"] if text_context else [])
        missing = [c for c in needed if c not in found]
        if missing:
            raise ValueError(f"--model {model!r}: converted directory has no {missing} component(s); it has {found}")
        vae_params, vae_cfg = model_dir.load_component(model, "vae")
        vae_cfg = vae_cfg.replace(dtype=dtype)
        text = model_dir.load_component(model, "text_encoder")[::-1] if text_context else None
        path = model
    else:
        if not os.path.isfile(model):
            raise FileNotFoundError(f"--model {model!r}: no such checkpoint file or converted model directory")
        vae_cfg = VAEConfig.from_lvdm_yaml(config, dtype=dtype) if config else VAEConfig.sd_kl_f8(dtype=dtype)
        state_dict = load_torch_checkpoint(model)
        vae_params = vae_from_torch(state_dict, vae_cfg, source=model)
        text = None
        if text_context:
            if not any(k.startswith(TEXT_PREFIX) for k in state_dict):
                raise ValueError(f"{model}: no text tower ({TEXT_PREFIX}*) in the checkpoint for text contexts")
            text_cfg = text_config_from_state_dict(state_dict, heads=text_heads)
            text = (text_cfg, text_encoder_from_torch(state_dict, text_cfg))
        path = model
    desc = f"{os.path.abspath(path)} (VAE ch={vae_cfg.ch} ch_mult={list(vae_cfg.ch_mult)}, {dtype})"
    return FrozenEncoders(vae_cfg, vae_params, text=text, frame_chunk=frame_chunk, description=desc)


def encode_summary_line(summary: EncodeSummary) -> str:
    if summary.already_complete:
        return f"{summary.dataset_dir} is already complete ({summary.encoded} clips); nothing to do"
    skipped = sum(summary.skipped.values())
    return (
        f"wrote {summary.encoded} clips to {summary.dataset_dir}"
        + (f"; skipped {skipped}: {summary.skipped}" if skipped else "")
        + (f" (resumed after {summary.chunks_done_before} finished chunks)" if summary.chunks_done_before else "")
    )


__all__ = (
    "EncodeError", "EncodeSummary", "FrozenEncoders", "LatentEncoder", "encode_manifest",
    "load_frozen_encoders",
)
