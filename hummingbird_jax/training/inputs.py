"""The run's input pipeline from the ``data`` config section: one checkpointable Grain loader per process.

Sources:

* ``latents``: precomputed VAE latents (``hummingbird data encode``), the fast path for real runs;
* ``clips``: video clips decoded from a manifest (the VAE encodes them inside the step);
* ``synthetic``: a fixed set of random latents and token sequences, for CPU smoke runs and tests
  (real Grain, real iterator state, no files).

``data.batch_size`` is global; each process loads ``batch_size / process_count`` rows of its own
shard. Only the fields the step reads go to the devices.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Sequence

import grain
import numpy as np

from hummingbird_jax.data.clips import ClipConfig, clip_loader, default_tokenize
from hummingbird_jax.data.input_pipeline import Loader, make_loader, shard_bounds, shard_shuffle_repeat
from hummingbird_jax.data.latents import latent_loader, read_spec
from hummingbird_jax.text import CONTEXT_LENGTH, EOT_TOKEN, SOT_TOKEN

MODEL_FIELDS = ("latents", "video", "context", "tokens", "fps")
_CAPTION_WORDS = ("a", "red", "blue", "cat", "dog", "car", "running", "over", "the", "field", "at", "night", "sunset",
                  "bird", "flying", "river", "slowly", "city", "street", "rain")
SOURCES = ("latents", "clips", "synthetic")


@dataclasses.dataclass(frozen=True)
class SyntheticLatents:
    """Example ``i`` of a fixed random dataset: latents ``(frames, h, w, 4)`` with a little spatial
    structure (smoothed noise, unit variance), a prompt of random token ids, an fps, and a caption of
    random words (for rewards that tokenize prompts themselves; unrelated to the token ids)."""

    frames: int
    latent_size: tuple[int, int]
    seed: int
    context_length: int = CONTEXT_LENGTH

    def __call__(self, index) -> dict:
        rng = np.random.default_rng((self.seed, int(index)))
        h, w = self.latent_size
        x = rng.standard_normal((self.frames, h, w, 4)).astype(np.float32)
        x = (x + np.roll(x, 1, axis=1) + np.roll(x, 1, axis=2)) / np.sqrt(3.0)
        length = int(rng.integers(3, min(12, self.context_length - 1)))  # SOT, words, EOT fit the context
        tokens = np.zeros((self.context_length,), np.int32)
        tokens[0] = SOT_TOKEN
        tokens[1 : length + 1] = rng.integers(1, 49000, size=length)
        tokens[length + 1] = EOT_TOKEN
        fps = np.int32(rng.integers(4, 9))
        text = " ".join(rng.choice(_CAPTION_WORDS, size=int(rng.integers(2, 8))))
        return {"latents": x, "tokens": tokens, "fps": fps, "text": text}


def local_batch_size(global_batch: int, process_count: int) -> int:
    if global_batch % process_count:
        raise ValueError(f"data.batch_size={global_batch} does not divide over {process_count} processes")
    return global_batch // process_count


def make_input(c, seed: int, process_index: int, process_count: int, context_length: int = CONTEXT_LENGTH) -> Loader:
    """The per-process batch iterator for the config's ``data`` section; prompts become
    ``context_length`` tokens, the text encoder's sequence length."""
    batch = local_batch_size(int(c.batch_size), process_count)
    source = c.source
    if source == "synthetic":
        shard_index, shard_count = shard_bounds(process_index, process_count)
        ds = shard_shuffle_repeat(range(int(c.synthetic_examples)), seed=seed, shard_index=shard_index,
                                  shard_count=shard_count)
        ds = ds.map(SyntheticLatents(int(c.frames), tuple(c.latent_size), seed, context_length))
        return make_loader(ds, batch_size=batch, give_up_after=1,
                           read_options=grain.ReadOptions(num_threads=1, prefetch_buffer_size=2), name="synthetic")
    if source == "latents":
        spec = read_spec(c.path)
        if spec.frames != int(c.frames):
            raise ValueError(f"data.frames={c.frames} but the latents at {c.path} hold {spec.frames}-frame clips")
        if spec.context_length != context_length:
            raise ValueError(f"the latents at {c.path} hold {spec.context_length}-token prompts; the text encoder "
                             f"(models.text) reads {context_length}")
        return latent_loader(c.path, batch_size=batch, seed=seed, num_workers=int(c.num_workers),
                             shard_index=process_index, shard_count=process_count)
    if source == "clips":
        clip_cfg = ClipConfig(frames=int(c.frames), size=tuple(c.size), max_stride=int(c.max_stride))
        tokenizer = functools.partial(default_tokenize, context_length=context_length)
        return clip_loader(c.path, clip_cfg, batch_size=batch, seed=seed, num_workers=int(c.num_workers),
                           tokenizer=tokenizer, shard_index=process_index, shard_count=process_count)
    raise ValueError(f"data.source = {source!r}; expected one of {SOURCES}")


def model_fields(batch: dict, rewards: Sequence = ()) -> dict:
    """The numeric fields the step consumes (strings and bookkeeping stay on the host), plus the prompt
    tokens of each reward in ``rewards`` (``RewardSpec`` s) that tokenizes prompts itself."""
    out = {k: np.asarray(v) for k, v in batch.items() if k in MODEL_FIELDS}
    for spec in rewards:
        if spec.model.tokenizes_text:
            out[spec.token_key] = np.asarray(spec.model.tokenize([str(t) for t in batch["text"]]))
    return out
