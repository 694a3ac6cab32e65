"""Converted-model directories: one Orbax checkpoint per component plus its config.

Layout::

    DIR/model.json              {"components": {"unet": {"config_type": "UNet3DConfig", "config": {...}}, ...}}
    DIR/unet/                   Orbax (StandardCheckpointer) params of the U-Net
    DIR/vae/, DIR/text_encoder/ likewise, when converted

Components are written one at a time, each atomically by Orbax; ``model.json`` is rewritten
atomically after each, so a directory never lists a component whose params are incomplete.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

MANIFEST = "model.json"


def _config_registry() -> dict[str, type]:
    from hummingbird_jax.models.unet_config import UNet3DConfig

    registry = {"UNet3DConfig": UNet3DConfig}
    try:  # components that have their own config classes
        from hummingbird_jax import models

        for name in ("VAEConfig", "CLIPTextConfig"):
            if hasattr(models, name):
                registry[name] = getattr(models, name)
    except ImportError:  # pragma: no cover
        pass
    return registry


def _to_jsonable(config: Any) -> dict:
    return json.loads(json.dumps(dataclasses.asdict(config), default=list))


def _from_jsonable(config_type: str, fields: dict) -> Any:
    registry = _config_registry()
    if config_type not in registry:
        raise ValueError(f"{MANIFEST}: unknown config type {config_type!r}; known: {sorted(registry)}")
    cls = registry[config_type]
    kwargs = {}
    for field in dataclasses.fields(cls):
        if field.name in fields:
            value = fields[field.name]
            kwargs[field.name] = tuple(value) if isinstance(value, list) else value
    return cls(**kwargs)


def read_manifest(directory: str) -> dict:
    path = os.path.join(directory, MANIFEST)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{directory}: not a converted model directory (no {MANIFEST})")
    with open(path) as fh:
        return json.load(fh)


def save_component(directory: str, name: str, params: Any, config: Any) -> None:
    """Write ``params`` to ``DIR/name`` (Orbax) and record ``config`` in ``DIR/model.json``."""
    import orbax.checkpoint as ocp

    directory = os.path.abspath(directory)
    os.makedirs(directory, exist_ok=True)
    target = os.path.join(directory, name)
    checkpointer = ocp.StandardCheckpointer()
    checkpointer.save(target, params, force=True)
    checkpointer.wait_until_finished()
    manifest = read_manifest(directory) if os.path.isfile(os.path.join(directory, MANIFEST)) else {"components": {}}
    manifest["components"][name] = {"config_type": type(config).__name__, "config": _to_jsonable(config)}
    tmp = os.path.join(directory, MANIFEST + ".tmp")
    with open(tmp, "w") as fh:
        json.dump(manifest, fh, indent=1)
    os.replace(tmp, os.path.join(directory, MANIFEST))


def load_component(directory: str, name: str) -> tuple[Any, Any]:
    """``(params, config)`` of one component; params come back as arrays on the default device."""
    import orbax.checkpoint as ocp

    manifest = read_manifest(directory)
    if name not in manifest["components"]:
        raise KeyError(f"{directory}: no component {name!r}; has {sorted(manifest['components'])}")
    entry = manifest["components"][name]
    config = _from_jsonable(entry["config_type"], entry["config"])
    params = ocp.StandardCheckpointer().restore(os.path.join(os.path.abspath(directory), name))
    return params, config


def components(directory: str) -> list[str]:
    return sorted(read_manifest(directory)["components"])
