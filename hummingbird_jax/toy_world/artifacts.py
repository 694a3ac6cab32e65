"""Atomic, resumable outputs of the demo's phases: parameter files and JSON records."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np


def save_params(path, params: Any) -> Path:
    """Writes a params pytree (msgpack) to ``path`` atomically."""
    from flax import serialization

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(serialization.msgpack_serialize(_to_numpy(params)))
    os.replace(tmp, path)
    return path


def load_params(path) -> Any:
    from flax import serialization

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"parameter file '{path}' does not exist; run the phase that writes it first")
    return serialization.msgpack_restore(path.read_bytes())


def load_json(path) -> Any:
    return json.loads(Path(path).read_text())


def _to_numpy(tree):
    import jax

    return jax.tree_util.tree_map(np.asarray, tree)

