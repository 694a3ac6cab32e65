"""Precomputed latents as a TFDS dataset (ArrayRecord), and the Grain loader that trains on them.

Encoding a clip through the VAE costs far more than a training step's data work, so large runs
encode each fixed clip once (``hummingbird data encode``) and train from the stored posterior.
The store is a regular, versioned TFDS dataset: ``tfds.data_source('hummingbird_latents',
data_dir=…)`` and TFDS tooling read it, and random access (ArrayRecord) lets Grain shuffle, shard and
checkpoint it exactly like the clip pipeline. TensorFlow is not needed to write or read it.

Per example: the VAE posterior ``mean`` and ``logvar`` of every frame (bfloat16, unscaled; ``logvar``
only with ``posterior='moments'``), the OpenCLIP ``tokens``, optionally the text ``context`` (the
frozen text encoder's output), the ``fps`` condition and where the clip came from.
"""

from __future__ import annotations

import dataclasses
import glob
import os
from typing import Any, Iterator

import grain
import ml_dtypes
import numpy as np

from hummingbird_jax.data.input_pipeline import Loader, make_loader, sharded_random_map

DATASET_NAME = "hummingbird_latents"
FORMAT_VERSION = "1.0.0"
POSTERIORS = ("moments", "mean")


@dataclasses.dataclass(frozen=True)
class LatentSpec:
    """What was encoded and how; stored as the dataset's metadata and checked on resume."""

    frames: int
    stride: int
    size: tuple[int, int]
    skip_first: int
    latent_channels: int
    downsample: int
    scale_factor: float
    posterior: str = "moments"
    context_shape: tuple[int, int] | None = None
    context_length: int = 77
    manifest: str = ""
    manifest_sha256: str = ""
    model: str = ""

    def __post_init__(self):
        object.__setattr__(self, "size", tuple(int(s) for s in self.size))
        if self.context_shape is not None:
            object.__setattr__(self, "context_shape", tuple(int(s) for s in self.context_shape))
        if self.posterior not in POSTERIORS:
            raise ValueError(f"LatentSpec.posterior must be one of {POSTERIORS}, got {self.posterior!r}")
        if any(s % self.downsample for s in self.size):
            raise ValueError(f"clip size {self.size} must be a multiple of the VAE's downsampling {self.downsample}")

    @property
    def latent_shape(self) -> tuple[int, int, int, int]:
        h, w = self.size
        return (self.frames, h // self.downsample, w // self.downsample, self.latent_channels)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "LatentSpec":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def features(self):
        import tensorflow_datasets as tfds

        def tensor(shape, dtype):
            # Bytes encoding: bfloat16 has no tf.train.Feature type, and raw bytes decode fastest.
            return tfds.features.Tensor(shape=shape, dtype=dtype, encoding=tfds.features.Encoding.BYTES)

        features = {
            "mean": tensor(self.latent_shape, ml_dtypes.bfloat16),
            "tokens": tensor((self.context_length,), np.int32),
            "fps": np.int32,
            "stride": np.int32,
            "start": np.int32,
            "fps_orig": np.float32,
            "index": np.int64,
            "text": tfds.features.Text(),
            "path": tfds.features.Text(),
        }
        if self.posterior == "moments":
            features["logvar"] = tensor(self.latent_shape, ml_dtypes.bfloat16)
        if self.context_shape is not None:
            features["context"] = tensor(self.context_shape, ml_dtypes.bfloat16)
        return tfds.features.FeaturesDict(features)


# ---- encoded chunks: the resumable intermediate form ------------------------------------------------


def chunk_path(chunks_dir: str, chunk: int) -> str:
    return os.path.join(chunks_dir, f"chunk-{chunk:06d}.npz")


def write_chunk(path: str, arrays: dict[str, np.ndarray]) -> None:
    """Atomically write one chunk (bfloat16 arrays are stored as their uint16 bits)."""
    stored = {k: v.view(np.uint16) if v.dtype == ml_dtypes.bfloat16 else v for k, v in arrays.items()}
    tmp = path + ".tmp.npz"
    np.savez(tmp, **stored)
    os.replace(tmp, path)


def read_chunk(path: str) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as f:
        out = {k: f[k] for k in f.files}
    for k in ("mean", "logvar", "context"):
        if k in out:
            out[k] = out[k].view(ml_dtypes.bfloat16)
    return out


def _builder_class():
    """The TFDS builder, defined on first use so importing this module does not import TFDS."""
    import tensorflow_datasets as tfds

    class HummingbirdLatents(tfds.core.GeneratorBasedBuilder, skip_registration=True):
        """VAE latents and text of fixed clips, in the order of the encoded chunks' rows.

        Not registered by name: readers open it from its files (``tfds.data_source`` /
        ``tfds.builder_from_directory``), which needs none of this code.
        """

        VERSION = tfds.core.Version(FORMAT_VERSION)
        # No download checksums or dataset card live beside this code; without this TFDS probes the
        # package's resource path (and on some layouts imports a backport that is not installed).
        code_path = None
        RELEASE_NOTES = {"1.0.0": "bf16 VAE posterior (mean, logvar), OpenCLIP tokens, optional context, fps."}

        def __init__(self, *, spec: LatentSpec, chunks_dir: str, **kwargs):
            self._spec = spec
            self._chunks_dir = chunks_dir
            super().__init__(**kwargs)

        def _info(self):
            return tfds.core.DatasetInfo(
                builder=self,
                description="Hummingbird training clips encoded by the frozen VAE (and text encoder).",
                features=self._spec.features(),
                metadata=tfds.core.MetadataDict(self._spec.to_json()),
            )

        def _split_generators(self, dl_manager):
            del dl_manager
            return {"train": self._generate_examples()}

        def _generate_examples(self) -> Iterator[tuple[str, dict]]:
            for path in sorted(glob.glob(os.path.join(self._chunks_dir, "chunk-*.npz"))):
                chunk = read_chunk(path)
                fields = [k for k in chunk if k != "skipped"]
                for i, index in enumerate(chunk["index"]):
                    yield f"{int(index):012d}", {k: chunk[k][i] for k in fields}

    return HummingbirdLatents


def dataset_dir_of(out_dir: str) -> str | None:
    """The finished dataset's versioned folder under ``out_dir`` (TFDS writes it last), or None."""
    path = os.path.join(out_dir, DATASET_NAME, FORMAT_VERSION)
    return path if os.path.isfile(os.path.join(path, "dataset_info.json")) else None


def build_dataset(out_dir: str, spec: LatentSpec, chunks_dir: str) -> str:
    """Write the TFDS dataset from the encoded chunks; returns its versioned folder.

    A dataset already prepared there is left as it is (TFDS's own check).
    """
    builder = _builder_class()(spec=spec, chunks_dir=chunks_dir, data_dir=out_dir, file_format="array_record")
    builder.download_and_prepare()
    downloads = os.path.join(out_dir, "downloads")  # TFDS makes it; nothing is ever downloaded here
    for folder in (os.path.join(downloads, "extracted"), downloads):
        if os.path.isdir(folder) and not os.listdir(folder):
            os.rmdir(folder)
    return str(builder.data_path)


# ---- reading -----------------------------------------------------------------------------------------


def open_latents(data_dir: str, split: str = "train"):
    """(random-access data source, :class:`LatentSpec`) of the dataset under ``data_dir``.

    ``data_dir`` is the encode ``--out`` folder (or the versioned folder itself).
    """
    import tensorflow_datasets as tfds

    version_dir = data_dir
    if not os.path.isfile(os.path.join(version_dir, "dataset_info.json")):
        candidates = sorted(glob.glob(os.path.join(data_dir, DATASET_NAME, "*", "dataset_info.json")))
        if not candidates:
            raise FileNotFoundError(
                f"no '{DATASET_NAME}' TFDS dataset under {data_dir!r} (write one with `hummingbird data encode`)"
            )
        version_dir = os.path.dirname(candidates[-1])
    builder = tfds.builder_from_directory(version_dir)
    meta = dict(builder.info.metadata or {})
    if not meta:
        raise ValueError(f"{version_dir}: dataset has no metadata.json; not written by `hummingbird data encode`")
    return builder.as_data_source(split=split), LatentSpec.from_json(meta)


@dataclasses.dataclass(frozen=True)
class LatentTransform:
    """Stored example → training example: ``latents = scale · (mean + σ ε)`` (a fresh posterior draw
    per epoch from the per-index RNG, as VideoCrafter's training does), or ``scale · mean``."""

    scale_factor: float
    sample_posterior: bool = True

    def __call__(self, ex: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        mean = ex["mean"].astype(np.float32)
        if self.sample_posterior and "logvar" in ex:
            std = np.exp(0.5 * ex["logvar"].astype(np.float32))
            mean = mean + std * rng.standard_normal(mean.shape, dtype=np.float32)
        out = {
            "latents": np.float32(self.scale_factor) * mean,
            "tokens": np.asarray(ex["tokens"], np.int32),
            "fps": np.int32(ex["fps"]),
            "stride": np.int32(ex["stride"]),
            "start": np.int32(ex["start"]),
            "index": np.int64(ex["index"]),
            "text": _str(ex["text"]),
            "path": _str(ex["path"]),
        }
        if "context" in ex:
            out["context"] = ex["context"].astype(np.float32)
        return out


def _str(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def latent_dataset(
    data_dir: str,
    *,
    seed: int,
    sample_posterior: bool = True,
    shard_index: int | None = None,
    shard_count: int | None = None,
    num_epochs: int | None = None,
    shuffle: bool = True,
    split: str = "train",
) -> tuple[grain.MapDataset, LatentSpec]:
    source, spec = open_latents(data_dir, split)
    ds = sharded_random_map(source, LatentTransform(spec.scale_factor, sample_posterior), seed=seed,
                            shard_index=shard_index, shard_count=shard_count, shuffle=shuffle, num_epochs=num_epochs)
    return ds, spec


def latent_loader(
    data_dir: str,
    *,
    batch_size: int,
    seed: int,
    sample_posterior: bool = True,
    num_workers: int = 0,
    shard_index: int | None = None,
    shard_count: int | None = None,
    num_epochs: int | None = None,
    shuffle: bool = True,
    drop_remainder: bool = True,
    read_threads: int = 4,
) -> Loader:
    """Batches of ``latents (b,t,h/8,w/8,C)`` float32 (already × scale factor), ``tokens (b,77)`` int32,
    ``fps (b,)`` int32, optional ``context (b,77,D)`` float32, plus ``stride``, ``start``, ``index``,
    ``text``, ``path``. Same sharding, shuffling and checkpointable state as the clip loader."""
    ds, spec = latent_dataset(
        data_dir, seed=seed, sample_posterior=sample_posterior, shard_index=shard_index, shard_count=shard_count,
        num_epochs=num_epochs, shuffle=shuffle,
    )
    read = grain.ReadOptions(num_threads=read_threads, prefetch_buffer_size=max(4, 2 * batch_size))
    loader = make_loader(
        ds, batch_size=batch_size, num_workers=num_workers, drop_remainder=drop_remainder,
        give_up_after=1, read_options=read, name="latents",  # every stored example is usable: no skips
    )
    loader.spec = spec
    return loader


def read_spec(data_dir: str) -> LatentSpec:
    """The :class:`LatentSpec` of an encoded dataset (cheap: reads only its metadata)."""
    return open_latents(data_dir)[1]

