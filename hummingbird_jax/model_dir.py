"""Converted-model directories: one Orbax checkpoint per component plus its config.

Layout::

    DIR/model.json              {"components": {"unet": {"config_type": "UNet3DConfig", "config": {...}}, ...},
                                 "metadata": {...}}   (optional, e.g. {"teacher": true})
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

from hummingbird_jax import registry
from hummingbird_jax.config_files import check_field_types, read_yaml, section
from hummingbird_jax.errors import CheckpointError, ConfigError
from hummingbird_jax.models.clip import CLIPTextConfig
from hummingbird_jax.models.unet_config import UNet3DConfig
from hummingbird_jax.models.vae import VAEConfig

MANIFEST = "model.json"


def _config_registry() -> dict[str, type]:
    """Config classes a manifest may name (every component a converted directory can hold)."""
    return {cls.__name__: cls for cls in (UNet3DConfig, VAEConfig, CLIPTextConfig)}


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
    try:
        with open(path) as fh:
            manifest = json.load(fh)
    except (ValueError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path}: not valid JSON ({err}); the directory is damaged, convert it again") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("components"), dict):
        raise CheckpointError(f"{path}: expected {{\"components\": {{...}}}} (a converted model directory's manifest)")
    return manifest


def read_metadata(directory: str) -> dict:
    """The directory-wide ``metadata`` of ``model.json`` (``{}`` when none was recorded)."""
    return dict(read_manifest(directory).get("metadata") or {})


def save_component(directory: str, name: str, params: Any, config: Any, metadata: dict | None = None) -> None:
    """Write ``params`` to ``DIR/name`` (Orbax) and record ``config`` in ``DIR/model.json``;
    ``metadata`` (JSON-serialisable) is merged into the directory-wide ``metadata``."""
    import orbax.checkpoint as ocp  # deferred: pulls in Orbax (~0.3 s CPU on `hummingbird --help`)

    directory = os.path.abspath(directory)
    os.makedirs(directory, exist_ok=True)
    target = os.path.join(directory, name)
    checkpointer = ocp.StandardCheckpointer()
    checkpointer.save(target, params, force=True)
    checkpointer.wait_until_finished()
    manifest = read_manifest(directory) if os.path.isfile(os.path.join(directory, MANIFEST)) else {"components": {}}
    manifest["components"][name] = {"config_type": type(config).__name__, "config": _to_jsonable(config)}
    if metadata:
        manifest["metadata"] = {**manifest.get("metadata", {}), **metadata}
    tmp = os.path.join(directory, MANIFEST + ".tmp")
    with open(tmp, "w") as fh:
        json.dump(manifest, fh, indent=1)
    os.replace(tmp, os.path.join(directory, MANIFEST))


def load_component(directory: str, name: str) -> tuple[Any, Any]:
    """``(params, config)`` of one component; params come back as arrays on the default device."""
    import orbax.checkpoint as ocp  # deferred: pulls in Orbax (~0.3 s CPU on `hummingbird --help`)

    manifest = read_manifest(directory)
    config = component_config(directory, name, manifest)
    params = ocp.StandardCheckpointer().restore(os.path.join(os.path.abspath(directory), name))
    return params, config


def components(directory: str) -> list[str]:
    return sorted(read_manifest(directory)["components"])


def component_config(directory: str, name: str, manifest: dict | None = None) -> Any:
    """The config recorded for component ``name`` (``KeyError`` naming the directory when it has none)."""
    manifest = read_manifest(directory) if manifest is None else manifest
    if name not in manifest["components"]:
        raise KeyError(f"{directory}: no component {name!r}; has {sorted(manifest['components'])}")
    entry = manifest["components"][name]
    return _from_jsonable(entry["config_type"], entry["config"])


def resolve_unet_config(model: str, time_cond: bool = False) -> UNet3DConfig:
    """A ``UNet3DConfig`` from a preset name (:mod:`hummingbird_jax.registry`), an official YAML or a converted
    model directory; anything else is a one-line :class:`~hummingbird_jax.errors.ConfigError` naming ``model``
    and what was expected. ``time_cond`` adds the stage-2 guidance projection to a preset or YAML."""
    if os.path.isdir(model):
        manifest = read_manifest(model)
        if "unet" not in manifest["components"]:
            raise ConfigError(f"{model}: converted directory has no 'unet' component")
        return component_config(model, "unet", manifest)
    overrides = {"time_cond_proj_dim": registry.GUIDANCE_EMBED_DIM} if time_cond else {}
    if model.endswith((".yaml", ".yml")):
        if not os.path.isfile(model):
            raise ConfigError(f"config file not found: {model}")
        doc = read_yaml(model)  # parse errors name the file and line
        check_field_types(UNet3DConfig, section(doc, "model", "params", "unet_config", "params"),
                          f"{model}: model.params.unet_config.params")
        try:
            return UNet3DConfig.from_lvdm_yaml(model, **overrides)
        except (ValueError, TypeError, KeyError, AttributeError) as err:
            detail = str(err).strip("'\"")
            raise ConfigError(detail if model in detail else f"{model}: {detail}") from None
    if os.path.exists(model):
        raise ConfigError(f"{model}: is a file but neither an official YAML (.yaml) nor a converted model "
                          "directory (expected a preset name, a .yaml or a directory)")
    return registry.unet(model, **overrides)
