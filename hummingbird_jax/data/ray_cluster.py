"""Ray for the library's engines (``--engine ray``): connecting to a cluster, and the resources each
task or actor asks for.

Shared by the curation stages' engine (:mod:`hummingbird_jax.curation.ray_engine`) and ``data encode``
(:mod:`hummingbird_jax.data.encode`). Ray itself is imported only when a run connects (``connect``):
it is an optional extra.
"""

from __future__ import annotations

import dataclasses
import logging
import socket
from typing import Any

RESOURCE_KEYS = ("num_cpus", "num_gpus", "actors", "rows_per_task")
DEFAULT_ROWS_PER_TASK = 8


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

    def resources(self, stage: Any, cluster: dict[str, float] | None = None) -> StageResources:
        """What each task/actor of ``stage`` asks for: a curation ``Stage``, or anything with its ``name``,
        ``kind`` and ``batch_size`` (and optionally the attributes named in ``RESOURCE_KEYS``)."""
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


def actors_that_fit(cluster: dict[str, float], res: StageResources) -> int:
    """Actors the cluster can hold at once for these per-actor resources."""
    counts = [cluster.get("CPU", 1) / res.num_cpus] if res.num_cpus else []
    if res.num_gpus:
        counts.append(cluster.get("GPU", 0) / res.num_gpus)
    return max(1, int(min(counts))) if counts else 1
