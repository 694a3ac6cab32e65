"""Experiment configs: the keys every run has, loading an experiment module, ``--set`` overrides.

An experiment is a Python module with ``get_config(variant='full')`` returning an
``ml_collections.ConfigDict`` (see ``experiments/``). :func:`common` gives the keys shared by both
stages so each experiment states only its recipe.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import os

from ml_collections import ConfigDict

from hummingbird_jax.diffusion.sampling import DEFAULT_FRAMES, DEFAULT_SIZE
from hummingbird_jax.training.losses import STAGE_SETTINGS
from hummingbird_jax.training.trainable import TrainableSpec

EXPERIMENTS_DIR = "experiments"  # where a bare experiment name is looked up, relative to the current directory
STAGES = ("stage1", "stage2")  # stage 1: distillation into the pruned student; stage 2: consistency + rewards


def common(stage: str) -> ConfigDict:
    """Every key a run has, each with its one default; an experiment changes only its recipe.

    The loss and trainable-parameter keys are the fields of their settings classes
    (:data:`~hummingbird_jax.training.losses.STAGE_SETTINGS`, :class:`TrainableSpec`), so their
    defaults live there and nowhere else."""
    if stage not in STAGES:
        raise ValueError(f"stage = {stage!r}; expected one of {STAGES}")
    c = ConfigDict()
    c.stage = stage
    c.seed = 0  # model init, data order and every random draw of the loss
    c.total_steps = 1000
    c.checkpoint_every = 500  # steps between Orbax checkpoints (and the last step)
    c.keep_checkpoints = 3  # newest checkpoints kept on disk
    c.async_checkpoints = True  # write checkpoints while the next steps run
    c.log_every = 10  # steps between metrics.jsonl / TensorBoard records
    c.record_every_step = False  # a metrics record at every step, whatever log_every says
    c.sample_every = 0  # 0: no samples; else write videos of sample_prompts every N steps
    c.sample_steps = 0  # 0: the stage's default sampler steps (see the model registry)
    c.sample_prompts = ["A hummingbird hovering over a red flower, slow motion.",
                        "Waves crashing on a rocky coast at sunset, drone shot."]

    c.mesh = ConfigDict()
    c.mesh.data = -1  # data-parallel axis size; -1: the devices left over
    c.mesh.fsdp = 1  # parameter-sharding axis size

    c.distributed = ConfigDict()
    c.distributed.coordinator_address = ""  # host:port of process 0; empty: single host or auto-detected
    c.distributed.num_processes = 1
    c.distributed.process_id = 0
    c.distributed.auto = True  # jax.distributed.initialize() when SLURM / Open MPI / a TPU pod is detected

    c.models = ConfigDict()
    c.models.teacher = "vc2"  # U-Net names: see the model registry
    c.models.student = "hb-0.7b"
    c.models.vae = ""  # VAE name; "": the teacher's own (its registry entry)
    c.models.text = ""  # text tower name; "": the teacher's own (its registry entry)
    c.models.weights = ""  # converted VideoCrafter2 directory; "random": random weights (tests, benchmarks)
    c.models.student_init = "prune"  # "prune" (the teacher's pruned copy), "random", or a model directory

    c.precision = ConfigDict()
    c.precision.compute = "bfloat16"  # activations of every network
    c.precision.frozen = "bfloat16"  # stored dtype of the frozen teacher, VAE, text tower and rewards
    c.precision.remat = "full"  # U-Net recomputation policy in the backward pass

    c.data = ConfigDict()
    c.data.source = "clips"  # "clips" (a video manifest), "latents" (TFDS ArrayRecord) or "synthetic"
    c.data.path = ""
    c.data.batch_size = 8  # global batch, split over the data and fsdp axes
    c.data.frames = DEFAULT_FRAMES
    c.data.size = DEFAULT_SIZE  # frame height, width
    c.data.max_stride = 6  # frame stride drawn from U{1..max_stride}; the fps condition follows it
    c.data.num_workers = 4  # Grain worker processes
    c.data.latent_size = (40, 64)  # for the latents and synthetic sources
    c.data.synthetic_examples = 64

    c.optim = ConfigDict()
    c.optim.lr = 1e-5
    c.optim.schedule = "constant"  # constant, warmup_constant or warmup_cosine
    c.optim.warmup_steps = 0
    c.optim.weight_decay = 0.01  # AdamW's decoupled decay
    c.optim.b1 = 0.9
    c.optim.b2 = 0.999
    c.optim.eps = 1e-8
    c.optim.clip = 1.0  # global gradient-norm clip; 0: none
    c.optim.mu_dtype = "float32"  # Adam's first moment; "bfloat16" halves its memory
    c.optim.grad_accum = 1  # micro-batches per optimizer step

    c.trainable = ConfigDict(dataclasses.asdict(TrainableSpec()))  # which student parameters train (full / LoRA)
    c.loss = ConfigDict(dataclasses.asdict(STAGE_SETTINGS[stage]()))  # the stage's loss settings
    c.rewards = ConfigDict()  # stage 2: name -> reward entry (kind, size, checkpoint, weight, frames, mode, remat)
    c.ema = ConfigDict()
    c.ema.decay = 0.0  # 0: no EMA copy of the student
    return c


def tiny_engine(c: ConfigDict) -> ConfigDict:
    """The ``tiny`` variant of an experiment: the one-level registry U-Nets with their VAE and text tower,
    random weights, float32, a few synthetic 4×16×16 clips and 30 steps at lr 1e-3 (engine smoke runs)."""
    c.total_steps, c.checkpoint_every, c.log_every = 30, 10, 1
    c.models.update(dict(teacher="tiny-teacher", student="tiny-student", weights="random"))
    c.precision.update(dict(compute="float32", frozen="float32", remat="none"))
    c.data.update(dict(source="synthetic", batch_size=2, frames=4, size=(16, 16), latent_size=(8, 8),
                       synthetic_examples=4, num_workers=0))
    c.optim.lr = 1e-3
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
