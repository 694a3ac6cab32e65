"""Training checkpoints: ``WORKDIR/checkpoints/<step>/{state,data,config}`` via Orbax.

* ``state``: the train state dict (params, base, optimizer state, EMA, step, RNG, skip counter),
  saved sharded and restored directly into the run's shardings.
* ``data``: the Grain iterator state of every process (its position in the stream).
* ``config``: the resolved experiment config as JSON (what the run and the export need to rebuild
  the models).

Saves are asynchronous (the step loop continues while files are written), atomic (Orbax writes
into a temporary directory and renames it when complete, so a killed run leaves only complete
steps behind) and keep the newest ``keep`` steps. Resuming is re-running the same command: the
newest complete step is restored. Temporary directories a killed save left behind
(``<step>.orbax-checkpoint-tmp*``) are removed when the manager is made.

A workdir belongs to one run: ``WORKDIR/run.json`` records the settings that shape the train state
(everything in the config but :data:`FREE_KEYS`); resuming with other settings is refused with the
keys that differ, instead of failing somewhere inside Orbax's restore.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
from typing import Any

import grain
import orbax.checkpoint as ocp

from hummingbird_jax.errors import WorkdirError

ITEMS = ("state", "data", "config")
RUN_FILE = "run.json"
TMP_PATTERN = "*.orbax-checkpoint-tmp*"
# Settings a run may change when it resumes: length, logging and checkpoint cadence, samples, layout.
FREE_KEYS = ("total_steps", "log_every", "checkpoint_every", "keep_checkpoints", "async_checkpoints",
             "record_every_step", "sample_every", "sample_steps", "sample_prompts", "mesh", "distributed",
             "data.num_workers")


def checkpoint_dir(workdir: str) -> str:
    return os.path.join(os.path.abspath(workdir), "checkpoints")


def remove_temporary(workdir: str) -> list[str]:
    """Delete the temporary directories of saves that never completed; returns what was removed."""
    leftovers = sorted(glob.glob(os.path.join(checkpoint_dir(workdir), TMP_PATTERN)))
    for path in leftovers:
        shutil.rmtree(path, ignore_errors=True)
    return leftovers


def make_manager(workdir: str, keep: int = 3, async_save: bool = True) -> ocp.CheckpointManager:
    remove_temporary(workdir)
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


def run_settings(config_json: dict) -> dict:
    """The settings that identify a run: the config without :data:`FREE_KEYS`."""
    settings = json.loads(json.dumps(config_json))
    for key in FREE_KEYS:
        *parents, leaf = key.split(".")
        node = settings
        for part in parents:
            node = node.get(part, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict):
            node.pop(leaf, None)
    return settings


def _flat(tree: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def claim_workdir(workdir: str, config_json: dict, latest_step: int | None, write: bool = True) -> None:
    """Record this run's settings in ``WORKDIR/run.json``, or refuse a workdir made by another run.

    A workdir from before ``run.json`` existed is judged by the config saved with its newest checkpoint."""
    mine = run_settings(config_json)
    path = os.path.join(workdir, RUN_FILE)
    theirs = None
    if os.path.isfile(path):
        try:
            with open(path) as fh:
                theirs = json.load(fh)["settings"]
        except (ValueError, KeyError, TypeError):
            raise WorkdirError(f"{path} is not a run record (expected JSON with 'settings'); move it away "
                               "or use another --workdir") from None
    elif latest_step is not None:
        theirs = run_settings(read_config(os.path.join(checkpoint_dir(workdir), str(latest_step))))
    if theirs is None:
        if not write:
            return
        tmp = path + ".tmp"
        with open(tmp, "w") as fh:
            json.dump({"settings": mine}, fh, indent=1, sort_keys=True)
        os.replace(tmp, path)
        return
    differ = settings_difference(theirs, mine, first=("stage", "models.teacher", "models.student"))
    if differ:
        raise WorkdirError(f"workdir {workdir} belongs to another run ({differ}); use a new --workdir, "
                           "or the original experiment and settings to resume it")


def settings_difference(theirs: dict, mine: dict, first: tuple[str, ...] = (), shown: int = 3) -> str:
    """``''`` when two nested settings dicts agree (tuples and lists alike); otherwise the differing keys,
    ``first`` ones first (what a user recognises a run by), as ``key: X there, Y here; …``."""
    a, b = (_flat(json.loads(json.dumps(tree))) for tree in (theirs, mine))
    differ = sorted((k for k in set(a) | set(b) if a.get(k) != b.get(k)), key=lambda k: (k not in first, k))
    if not differ:
        return ""
    listed = "; ".join(f"{k}: {a.get(k)!r} there, {b.get(k)!r} here" for k in differ[:shown])
    return listed + (f" (and {len(differ) - shown} more)" if len(differ) > shown else "")


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
