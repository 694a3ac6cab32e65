"""Experiment configs: the keys every run has, loading an experiment module, ``--set`` overrides.

An experiment is a Python module with ``get_config(variant='full')`` returning an
``ml_collections.ConfigDict`` (see ``experiments/``). :func:`common` gives the keys shared by both
stages so each experiment states only its recipe.
"""

from __future__ import annotations

import ast
import importlib.util
import os

from ml_collections import ConfigDict

EXPERIMENTS_DIR = "experiments"  # where a bare experiment name is looked up, relative to the current directory


def common(stage: str) -> ConfigDict:
    c = ConfigDict()
    c.stage = stage
    c.seed = 0
    c.total_steps = 1000
    c.checkpoint_every = 500
    c.keep_checkpoints = 3
    c.async_checkpoints = True
    c.log_every = 10
    c.sample_every = 0  # 0: no samples; else write videos of sample_prompts every N steps
    c.sample_steps = 0  # 0: the stage's default (LCM 4 steps for stage 2, DDIM 50 for stage 1)
    c.sample_prompts = ["A hummingbird hovering over a red flower, slow motion.",
                        "Waves crashing on a rocky coast at sunset, drone shot."]
    c.mesh = ConfigDict(dict(data=-1, fsdp=1))  # -1: the devices left over
    c.distributed = ConfigDict(dict(coordinator_address="", num_processes=1, process_id=0, auto=True))
    c.models = ConfigDict(dict(teacher="vc2", student="hb-0.7b", vae="sd-kl-f8", text="vit-h-14",
                               weights="", student_init="prune"))
    c.precision = ConfigDict(dict(compute="bfloat16", frozen="bfloat16", remat="full"))
    c.data = ConfigDict(dict(source="clips", path="", batch_size=8, frames=16, size=(320, 512), max_stride=6,
                             num_workers=4, latent_size=(40, 64), synthetic_examples=64))
    c.optim = ConfigDict(dict(lr=1e-5, schedule="constant", warmup_steps=0, weight_decay=0.01, b1=0.9, b2=0.999,
                              eps=1e-8, clip=1.0, mu_dtype="float32", grad_accum=1))
    c.trainable = ConfigDict(dict(mode="full", regex="", lora_rank=64, lora_alpha=64.0, lora_targets=".*"))
    c.ema = ConfigDict(dict(decay=0.0))
    return c


def experiment_path(name: str) -> str:
    """The file an experiment name points at: a path as given, a bare name (``stage2_turbo``) as
    ``experiments/<name>.py`` under the current directory."""
    if name.endswith(".py") or os.sep in name:
        return name
    return os.path.join(EXPERIMENTS_DIR, f"{name}.py")


def load_experiment(name: str, variant: str = "full") -> ConfigDict:
    """``name`` is a file path (``experiments/stage2_turbo.py``) or a bare name (``stage2_turbo``) for a
    file in ``experiments/`` under the current directory; the file is loaded by path, never imported
    as a package (the launchable experiments are not installed)."""
    path = experiment_path(name)
    if not os.path.isfile(path):
        if path == name:
            raise FileNotFoundError(f"experiment file not found: {name}")
        raise FileNotFoundError(f"no experiment {name!r} (a file path, or {path} under the current directory)")
    spec = importlib.util.spec_from_file_location(f"experiment_{os.path.basename(path)[:-3]}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, "get_config"):
        raise ValueError(f"experiment {name!r} defines no get_config(variant)")
    return module.get_config(variant)


def _parse(value: str):
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value  # a bare string


def apply_overrides(config: ConfigDict, assignments: list[str]) -> ConfigDict:
    """Apply ``key.sub=value`` strings (values parsed as Python literals, else taken as strings).

    Unknown keys are an error (a typo must not train with the default silently).
    """
    for item in assignments:
        if "=" not in item:
            raise ValueError(f"--set {item!r}: expected key=value")
        key, value = item.split("=", 1)
        parts = key.strip().split(".")
        node = config
        for part in parts[:-1]:
            if not isinstance(node, ConfigDict) or part not in node:
                raise KeyError(f"--set {key}: no config key {part!r} in {'.'.join(parts[:-1]) or 'the config'}")
            node = node[part]
        leaf = parts[-1]
        if not isinstance(node, ConfigDict) or leaf not in node:
            raise KeyError(f"--set {key}: unknown config key (known here: {sorted(node.keys())})")
        parsed = _parse(value)
        if isinstance(node[leaf], tuple) and isinstance(parsed, list):
            parsed = tuple(parsed)
        if isinstance(node[leaf], float) and isinstance(parsed, int):
            parsed = float(parsed)
        try:
            node[leaf] = parsed
        except TypeError as err:
            raise ValueError(f"--set {key}={value}: {err}") from None
    return config
