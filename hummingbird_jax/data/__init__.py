"""Input pipeline: clips decoded from videos, or precomputed latents, as Grain batches on a mesh.

Names are resolved on first use so that ``hummingbird --help`` (which imports the ``data encode``
parser) does not pay for Grain, PyAV or TFDS.
"""

from __future__ import annotations

from hummingbird_jax.lazy_exports import lazy_exports

_EXPORTS = {
    "ClipConfig": "clips",
    "ClipTransform": "clips",
    "clip_dataset": "clips",
    "clip_loader": "clips",
    "default_tokenize": "clips",
    "Clip": "decode",
    "ClipError": "decode",
    "SKIP_REASONS": "decode",
    "read_clip": "decode",
    "Manifest": "manifest",
    "ManifestError": "manifest",
    "Loader": "input_pipeline",
    "Skipped": "input_pipeline",
    "batch_sharding": "sharding",
    "put_batch_on_mesh": "sharding",
    "DATASET_NAME": "latents",
    "LatentSpec": "latents",
    "latent_dataset": "latents",
    "latent_loader": "latents",
    "open_latents": "latents",
    "EncodeError": "encode",
    "FrozenEncoders": "encode",
    "LatentEncoder": "encode",
    "encode_manifest": "encode",
    "encode_summary_line": "encode",
    "load_frozen_encoders": "encode",
    "write_video": "synthetic",
    "frame_index": "synthetic",
}

__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
