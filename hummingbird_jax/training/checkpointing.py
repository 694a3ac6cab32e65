"""Training checkpoints: ``WORKDIR/checkpoints/<step>/{state,data,config}`` via Orbax.

* ``state``: the train state dict (params, base, optimizer state, EMA, step, RNG, skip counter),
  saved sharded and restored directly into the run's shardings.
* ``data``: the Grain iterator state of every process (its position in the stream).
* ``config``: the resolved experiment config as JSON (what the run and the export need to rebuild
  the models).

Saves are asynchronous (the step loop continues while files are written), atomic (Orbax writes
into a temporary directory and renames it when complete, so a killed run leaves only complete
steps behind) and keep the newest ``keep`` steps. Resuming is re-running the same command: the
newest complete step is restored.
"""

from __future__ import annotations

import json
import os
from typing import Any

import grain
import orbax.checkpoint as ocp

ITEMS = ("state", "data", "config")


def checkpoint_dir(workdir: str) -> str:
    return os.path.join(os.path.abspath(workdir), "checkpoints")


def make_manager(workdir: str, keep: int = 3, async_save: bool = True) -> ocp.CheckpointManager:
    options = ocp.CheckpointManagerOptions(max_to_keep=keep, enable_async_checkpointing=async_save,
                                           create=True)
    return ocp.CheckpointManager(checkpoint_dir(workdir), options=options, item_names=ITEMS)


def save(manager: ocp.CheckpointManager, step: int, state: dict, loader, config_json: dict) -> bool:
    return manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state),
        data=grain.checkpoint.CheckpointSave(loader),
        config=ocp.args.JsonSave(config_json),
    ))


def restore(manager: ocp.CheckpointManager, step: int, abstract_state: Any, loader) -> dict:
    """State restored into ``abstract_state``'s shapes, dtypes and shardings; ``loader`` repositioned."""
    restored = manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract_state),
        data=grain.checkpoint.CheckpointRestore(loader),
    ))
    return restored["state"]


def is_training_checkpoint(path: str) -> bool:
    """Whether ``path`` is one step of a training run (``.../checkpoints/<step>``)."""
    return all(os.path.isdir(os.path.join(path, item)) for item in ("state", "config"))


def read_config(step_dir: str) -> dict:
    """The resolved experiment config saved with a training checkpoint step."""
    folder = os.path.join(step_dir, "config")
    for name in ("metadata", "config.json"):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            with open(path) as fh:
                return json.load(fh)
    raise FileNotFoundError(f"{step_dir}: no saved config (expected {folder}/metadata)")


def read_state(step_dir: str) -> dict:
    """The train state of a checkpoint step as host arrays (no shardings, any device count)."""
    return ocp.StandardCheckpointer().restore(os.path.join(os.path.abspath(step_dir), "state"))
