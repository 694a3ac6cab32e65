"""The Ray Data engine: the same curation stages on a Ray cluster (or a local Ray on one machine).

:func:`hummingbird_jax.curation.stage.run_stage` with ``engine="ray"`` hands its pending rows here; everything
else — the row keys, the journal, the merge, ``finalize``, the output manifest and the summary — is
the local runner's, so both engines write the same files, rows, values and error flags, and a run
started with one engine can be resumed with the other.

Mapping of the :class:`~hummingbird_jax.curation.stage.Stage` contract onto Ray Data:

* the pending rows become a dataset of *chunks* (``stage.batch_size`` rows each, pickled, so every
  value reaches ``process`` exactly as in the local process pool);
* a stage that loads state in ``setup()`` or has ``kind="model"`` is a class UDF held by a pool of
  actors (``actors``; ``setup`` runs once per actor); any other stage runs as stateless Ray tasks;
* each task/actor call gets ``rows_per_task`` rows (rounded up to whole chunks) and asks for
  ``num_cpus``/``num_gpus``; ``kind="model"`` stages default to one GPU per actor when the cluster
  has GPUs;
* the driver consumes the output blocks as they finish and commits each block to the stage's
  journal (one fsync per block). A driver killed with SIGKILL loses only blocks still in flight;
  re-running the command skips every committed row. Rows are keyed by input identity and the
  output is built from the input table, so each input row appears exactly once;
* a worker or actor process that dies (killed, out of memory, node lost) is restarted by Ray and
  its batch is retried, up to ``max_retries`` times; a batch that kills its worker every time stops
  the stage with an error (its finished rows stay committed). An exception inside ``process`` is not
  a worker failure: it becomes the row's ``error`` as in the local engine.

Resources per stage come from, in order: explicit options (CLI flags), then attributes of the stage
class (``num_cpus``, ``num_gpus``, ``actors``, ``rows_per_task``), then the defaults above
(:meth:`hummingbird_jax.data.ray_cluster.RayOptions.resources`, shared with ``data encode``).
"""

from __future__ import annotations

import math
import pickle
import warnings
from typing import Any, Callable

import numpy as np

from hummingbird_jax.curation.stage_contract import Stage, process_rows, row_records
from hummingbird_jax.data.ray_cluster import RayOptions, StageResources, actors_that_fit, connect

MAX_BLOCKS = 20_000  # bounds the driver's bookkeeping for very large manifests


def _uses_actors(stage: Stage) -> bool:
    return stage.kind == "model" or type(stage).setup is not Stage.setup


def _process_chunks(batch: dict[str, np.ndarray], stage: Stage) -> dict[str, np.ndarray]:
    """One Ray call: each input row is a pickled (row indices, row dicts) chunk of the stage."""
    indices, results = [], []
    for payload in batch["chunk"]:
        chunk, rows = pickle.loads(payload)
        indices.append(pickle.dumps(chunk))
        results.append(pickle.dumps(process_rows(stage, rows)))
    return {"indices": np.array(indices, dtype=object), "results": np.array(results, dtype=object)}


def _actor_class(stage: Stage) -> type:
    """Class UDF holding ``stage`` (pickled with the class), whose ``setup`` runs once per actor."""

    class StageActor:
        def __init__(self):
            self.stage = stage
            stage.setup()

        def __call__(self, batch):
            return _process_chunks(batch, self.stage)

    StageActor.__name__ = StageActor.__qualname__ = f"{type(stage).__name__}Actor"  # names it in Ray's logs
    return StageActor


def run_chunks(
    stage: Stage,
    frame,
    chunks: list[list[int]],
    record: Callable[[list[int], list[dict]], None],
    options: RayOptions | None = None,
) -> StageResources:
    """Runs ``stage`` over ``chunks`` (lists of row indices of ``frame``) on Ray; ``record(indices,
    results)`` is called on the driver once per finished block, as blocks arrive."""
    options = options or RayOptions()
    ray = connect(options.address)
    from ray.data import ActorPoolStrategy, DataContext  # deferred with ray itself

    cluster = ray.cluster_resources()
    res = options.resources(stage, cluster)
    context = DataContext.get_current()
    context.enable_progress_bars = False  # run_stage's bar counts committed rows
    context.print_on_execution_start = False
    per_call = max(1, math.ceil(res.rows_per_task / max(1, len(chunks[0]) if chunks else 1)))
    items = [{"chunk": pickle.dumps((chunk, row_records(frame, chunk)))} for chunk in chunks]
    blocks = max(1, min(MAX_BLOCKS, math.ceil(len(items) / per_call)))
    dataset = ray.data.from_items(items, override_num_blocks=blocks)
    remote: dict[str, Any] = {"num_cpus": res.num_cpus}
    if res.num_gpus:
        remote["num_gpus"] = res.num_gpus
    with warnings.catch_warnings():
        # Retries of dead workers are still plain Ray remote options in Ray 2.60 (the pinned version).
        warnings.filterwarnings("ignore", message=".*ray_remote_args.*deprecated")
        if _uses_actors(stage):
            size = res.actors or min(actors_that_fit(cluster, res), blocks)
            mapped = dataset.map_batches(
                _actor_class(stage), batch_size=per_call, batch_format="numpy", compute=ActorPoolStrategy(size=size),
                max_restarts=-1, max_task_retries=options.max_retries, **remote,
            )
        else:
            mapped = dataset.map_batches(
                _process_chunks, fn_args=(stage,), batch_size=per_call, batch_format="numpy",
                concurrency=res.actors, max_retries=options.max_retries, **remote,
            )
    for block in mapped.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=0):
        indices, results = [], []
        for chunk_indices, chunk_results in zip(block["indices"], block["results"]):
            indices += pickle.loads(chunk_indices)
            results += pickle.loads(chunk_results)
        record(indices, results)  # one journal commit (fsync) per block
    return res
