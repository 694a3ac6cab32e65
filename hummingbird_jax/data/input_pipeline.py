"""Grain plumbing shared by the clip and latent loaders: shard, shuffle, repeat, drop-and-count, batch.

Order of operations (all on a random-access ``MapDataset`` until batching):

    rows → this process's shard → shuffle(seed) → repeat → per-element transform (may give Skipped)
         → iterate → drop Skipped (counting why) → batch → worker processes → :class:`Loader`

Sharding first gives every process a disjoint, equally long set of rows (the tail that does not
divide evenly is left out, as ``grain.sharding.ShardOptions(drop_remainder=True)`` does), so all
processes yield the same number of batches. Shuffle after repeat-aware indexing means each epoch is
a fresh permutation. The per-element transform draws its randomness from Grain's per-index RNG, so
the stream depends only on (seed, shard), never on worker count or timing.

Skips must be counted where they happen (in worker processes), so each kept element carries the
number of rows dropped just before it, by reason; batching stacks those and :class:`Loader` sums
them in the main process. The totals are part of the iterator state and survive a resume.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any, Callable

import grain
import numpy as np

from hummingbird_jax.data.decode import SKIP_REASONS

log = logging.getLogger(__name__)

SKIPS_KEY = "_skips"


@dataclasses.dataclass(frozen=True)
class Skipped:
    """Placeholder for a row that gave no example; ``reason`` is one of ``SKIP_REASONS``."""

    reason: str
    path: str = ""


def shard_bounds(shard_index: int | None, shard_count: int | None) -> tuple[int, int]:
    """(index, count) of this process's shard; defaults to JAX's process index and count."""
    if shard_index is None or shard_count is None:
        import jax

        shard_index = jax.process_index() if shard_index is None else shard_index
        shard_count = jax.process_count() if shard_count is None else shard_count
    if not 0 <= shard_index < shard_count:
        raise ValueError(f"shard_index {shard_index} must be in [0, {shard_count})")
    return shard_index, shard_count


def shard_shuffle_repeat(
    source: Any,
    *,
    seed: int,
    shard_index: int,
    shard_count: int,
    shuffle: bool = True,
    num_epochs: int | None = None,
) -> grain.MapDataset:
    """This shard's rows of ``source`` (strided), shuffled per epoch, repeated (``None``: forever)."""
    ds = grain.MapDataset.source(source)
    per_shard = len(ds) // shard_count
    if per_shard == 0:
        raise ValueError(f"{len(ds)} rows cannot be split over {shard_count} shards")
    ds = ds[shard_index : per_shard * shard_count : shard_count]
    if shuffle:
        ds = ds.shuffle(seed=seed % 2**32)
    return ds.repeat(num_epochs)


def sharded_random_map(
    source: Any,
    transform: Callable[[Any, np.random.Generator], Any],
    *,
    seed: int,
    shard_index: int | None,
    shard_count: int | None,
    shuffle: bool = True,
    num_epochs: int | None = None,
) -> grain.MapDataset:
    """This process's shard of ``source`` (:func:`shard_bounds`, :func:`shard_shuffle_repeat`), each row
    through ``transform``, whose per-index RNG is seeded from (seed, shard): every shard draws its own stream."""
    shard_index, shard_count = shard_bounds(shard_index, shard_count)
    ds = shard_shuffle_repeat(
        source, seed=seed, shard_index=shard_index, shard_count=shard_count, shuffle=shuffle, num_epochs=num_epochs
    )
    return ds.random_map(transform, seed=(seed * 1_000_003 + shard_index) % 2**32)


class _DropSkippedIterator(grain.DatasetIterator):
    def __init__(self, parent: grain.DatasetIterator, give_up_after: int):
        super().__init__(parent)
        self._give_up_after = give_up_after

    def __next__(self):
        counts = np.zeros(len(SKIP_REASONS), np.int64)
        while True:
            element = next(self._parent)
            if not isinstance(element, Skipped):
                element[SKIPS_KEY] = counts
                return element
            counts[SKIP_REASONS.index(element.reason)] += 1
            if counts.sum() >= self._give_up_after:
                found = {r: int(c) for r, c in zip(SKIP_REASONS, counts) if c}
                raise RuntimeError(
                    f"{int(counts.sum())} rows in a row gave no example ({found}; last: {element.path!r}); "
                    "check the manifest paths and the clip length settings"
                )

    def get_state(self):
        # Between two yields no skipped row is pending, so the parent's state is the whole state.
        return self._parent.get_state()

    def set_state(self, state):
        self._parent.set_state(state)


class DropSkipped(grain.IterDataset):
    """Drops :class:`Skipped` elements; the next kept element carries their counts in ``_skips``.

    Stops with a clear error after ``give_up_after`` consecutive skips (a manifest with no usable
    row would otherwise spin forever under ``repeat``).
    """

    def __init__(self, parent: grain.IterDataset, give_up_after: int):
        super().__init__(parent)
        self._give_up_after = max(1, give_up_after)

    def __iter__(self):
        return _DropSkippedIterator(self._parent.__iter__(), self._give_up_after)


class Loader(grain.DatasetIterator):
    """The batch iterator handed to training: Grain state + skip totals, checkpointable.

    ``get_state``/``set_state`` (JSON-serialisable) and Orbax via ``grain.checkpoint.CheckpointSave``
    / ``CheckpointRestore`` both restore the exact position: the next batch after a restore is the
    one that would have come next. Skip totals are logged when they grow (at most every
    ``log_every_s`` seconds) and are readable as :attr:`skip_counts`.
    """

    def __init__(self, parent: grain.DatasetIterator, log_every_s: float = 60.0, name: str = "data"):
        super().__init__(parent)
        self._counts = np.zeros(len(SKIP_REASONS), np.int64)
        self._logged = self._counts.copy()
        self._log_every_s = log_every_s
        self._last_log = 0.0
        self._name = name

    @property
    def skip_counts(self) -> dict[str, int]:
        return {r: int(c) for r, c in zip(SKIP_REASONS, self._counts)}

    def __next__(self) -> dict[str, np.ndarray]:
        batch = next(self._parent)
        self._counts += np.asarray(batch.pop(SKIPS_KEY)).reshape(-1, len(SKIP_REASONS)).sum(0)
        now = time.monotonic()
        if (self._counts != self._logged).any() and now - self._last_log >= self._log_every_s:
            self.log_skips()
            self._last_log = now
        return batch

    def log_skips(self) -> None:
        found = {r: c for r, c in self.skip_counts.items() if c}
        log.warning("%s: skipped %d rows so far: %s", self._name, sum(found.values()), found or "none")
        self._logged = self._counts.copy()

    def get_state(self) -> dict[str, Any]:
        return {"grain": self._parent.get_state(), "skipped": self.skip_counts}

    def set_state(self, state: dict[str, Any]) -> None:
        if "grain" not in state:
            raise ValueError(
                f"not a Loader state (expected keys 'grain' and 'skipped', got {sorted(state)}); "
                "save it with Loader.get_state() or grain.checkpoint.CheckpointSave(loader)"
            )
        self._parent.set_state(state["grain"])
        self._counts = np.array([int(state.get("skipped", {}).get(r, 0)) for r in SKIP_REASONS], np.int64)
        self._logged = self._counts.copy()


def ensure_absl_flags_parsed() -> None:
    """Grain's worker start-up reads an absl flag; outside ``absl.app.run`` reading any flag raises
    ``UnparsedFlagAccessError``. Marking the flags parsed keeps every default."""
    from absl import flags

    if not flags.FLAGS.is_parsed():
        flags.FLAGS.mark_as_parsed()


def make_loader(
    ds: grain.MapDataset,
    *,
    batch_size: int,
    num_workers: int = 0,
    drop_remainder: bool = True,
    give_up_after: int,
    worker_buffer: int = 2,
    read_options: grain.ReadOptions | None = None,
    postprocess: Callable[[dict], dict] | None = None,
    name: str = "data",
) -> Loader:
    """Iterate ``ds`` (elements or :class:`Skipped`), drop and count skips, batch, prefetch in workers.

    ``postprocess`` runs on each batch inside the workers. ``read_options`` bounds Grain's per-process
    read-ahead (its default of 500 elements would hold gigabytes of frames).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    read_options = read_options or grain.ReadOptions(num_threads=1, prefetch_buffer_size=max(2, batch_size))
    it = DropSkipped(ds.to_iter_dataset(read_options), give_up_after)
    it = it.batch(batch_size, drop_remainder=drop_remainder)
    if postprocess is not None:
        it = it.map(postprocess)
    if num_workers > 0:
        ensure_absl_flags_parsed()
        it = it.mp_prefetch(grain.MultiprocessingOptions(num_workers=num_workers, per_worker_buffer_size=worker_buffer))
    return Loader(iter(it), name=name)

