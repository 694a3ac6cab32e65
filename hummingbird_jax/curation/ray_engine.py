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
class (``num_cpus``, ``num_gpus``, ``actors``, ``rows_per_task``), then the defaults above.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import pickle
import socket
import warnings
from typing import Any, Callable

import numpy as np

from hummingbird_jax.curation.stage import Stage, _process_rows, _records

RESOURCE_KEYS = ("num_cpus", "num_gpus", "actors", "rows_per_task")
DEFAULT_ROWS_PER_TASK = 8
MAX_BLOCKS = 20_000  # bounds the driver's bookkeeping for very large manifests


class RayUnavailable(RuntimeError):
    """``--engine ray`` was asked for but Ray Data is not installed or the cluster does not answer."""


@dataclasses.dataclass(frozen=True)
class StageResources:
    num_cpus: float = 1.0
    num_gpus: float = 0.0
    actors: int | None = None  # None: as many as the cluster's resources allow
    rows_per_task: int = DEFAULT_ROWS_PER_TASK


@dataclasses.dataclass(frozen=True)
class RayOptions:
    """How the Ray engine connects and what each stage asks for.

    ``address``: ``None`` starts a local Ray for the run (or uses ``RAY_ADDRESS``/an already
    initialised Ray), ``"auto"`` joins the cluster this machine belongs to, ``HOST:PORT`` a given
    head. ``num_cpus``… apply to every stage; ``stages`` maps a stage name to overrides of its own,
    e.g. ``{"recaption": {"num_gpus": 1, "actors": 4}}``.
    """

    address: str | None = None
    num_cpus: float | None = None
    num_gpus: float | None = None
    actors: int | None = None
    rows_per_task: int | None = None
    max_retries: int = 3
    stages: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)

    def resources(self, stage: Stage, cluster: dict[str, float] | None = None) -> StageResources:
        cluster = cluster or {}
        chosen = {}
        for key in RESOURCE_KEYS:
            value = self.stages.get(stage.name, {}).get(key)
            if value is None:
                value = getattr(self, key)
            if value is None:
                value = getattr(stage, key, None)
            if value is not None:
                chosen[key] = value
        if "num_gpus" not in chosen and stage.kind == "model" and cluster.get("GPU", 0) >= 1:
            chosen["num_gpus"] = 1.0
        if "rows_per_task" not in chosen and stage.kind == "model":
            chosen["rows_per_task"] = max(1, int(stage.batch_size))
        return StageResources(
            num_cpus=float(chosen.get("num_cpus", 1.0)),
            num_gpus=float(chosen.get("num_gpus", 0.0)),
            actors=int(chosen["actors"]) if chosen.get("actors") is not None else None,
            rows_per_task=max(1, int(chosen.get("rows_per_task", DEFAULT_ROWS_PER_TASK))),
        )


def parse_stage_resources(items: list[str] | None) -> dict[str, dict[str, Any]]:
    """``["motion:num_cpus=2,actors=4", "recaption:num_gpus=1"]`` -> ``{stage: {key: value}}``."""
    out: dict[str, dict[str, Any]] = {}
    for item in items or []:
        name, sep, body = item.partition(":")
        if not sep or not name or not body:
            raise ValueError(f"--stage-resources '{item}': expected STAGE:key=value[,key=value] "
                             f"with keys {', '.join(RESOURCE_KEYS)}")
        for pair in body.split(","):
            key, eq, value = pair.partition("=")
            key = key.strip().replace("-", "_")
            if not eq or key not in RESOURCE_KEYS:
                raise ValueError(f"--stage-resources '{item}': '{pair}' is not key=value with a key from "
                                 f"{', '.join(RESOURCE_KEYS)}")
            try:
                number = float(value)
            except ValueError:
                raise ValueError(f"--stage-resources '{item}': '{value}' is not a number") from None
            out.setdefault(name.strip(), {})[key] = int(number) if key in ("actors", "rows_per_task") else number
    return out


def _import_ray():
    try:
        import ray  # deferred: Ray is an optional extra
        import ray.data
    except ImportError as err:
        raise RayUnavailable(f"--engine ray needs Ray Data: pip install -e '.[ray]' ({err})") from err
    return ray


def connect(address: str | None = None):
    """Initialises Ray once per process: joins ``address`` or starts a local Ray; returns the module."""
    ray = _import_ray()
    if not ray.is_initialized():
        _check_reachable(address)
        try:
            ray.init(address=address, include_dashboard=False, logging_level="WARNING", configure_logging=True)
        except ConnectionError as err:
            raise RayUnavailable(f"--ray-address {address}: could not join a Ray cluster ({err})") from err
    logging.getLogger("ray.data").setLevel(logging.ERROR)  # per-dataset chatter; our bar and summary report
    return ray


def _check_reachable(address: str | None, timeout: float = 10.0) -> None:
    """Fails in seconds on a HOST:PORT nobody listens on (Ray itself keeps retrying for minutes)."""
    if not address or address == "auto" or "://" in address:
        return
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise RayUnavailable(f"--ray-address {address}: expected 'auto' or HOST:PORT")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as err:
        raise RayUnavailable(f"--ray-address {address}: no Ray head answers there ({err})") from err


def _uses_actors(stage: Stage) -> bool:
    return stage.kind == "model" or type(stage).setup is not Stage.setup


def _process_chunks(batch: dict[str, np.ndarray], stage: Stage) -> dict[str, np.ndarray]:
    """One Ray call: each input row is a pickled (row indices, row dicts) chunk of the stage."""
    indices, results = [], []
    for payload in batch["chunk"]:
        chunk, rows = pickle.loads(payload)
        indices.append(pickle.dumps(chunk))
        results.append(pickle.dumps(_process_rows(stage, rows)))
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
    items = [{"chunk": pickle.dumps((chunk, _records(frame, chunk)))} for chunk in chunks]
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


def actors_that_fit(cluster: dict[str, float], res: StageResources) -> int:
    """Actors the cluster can hold at once for these per-actor resources."""
    counts = [cluster.get("CPU", 1) / res.num_cpus] if res.num_cpus else []
    if res.num_gpus:
        counts.append(cluster.get("GPU", 0) / res.num_gpus)
    return max(1, int(min(counts))) if counts else 1
