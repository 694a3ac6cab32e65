"""Training: stage-1 guided distillation and stage-2 consistency distillation with rewards.

``trainer.train(config, workdir)`` runs an experiment config (``experiments/``); the pieces it is
made of (losses, the jitted step, LoRA, mesh/shardings, checkpoints) are importable on their own.

Names are resolved on first use, so that importing a light submodule (``training.config``, which the
CLI, the experiments and the toy world's presets read) does not pay for Grain and Orbax.
"""

from __future__ import annotations

from hummingbird_jax.lazy_exports import lazy_exports

_EXPORTS = {
    "is_training_checkpoint": "checkpointing",
    "read_config": "checkpointing",
    "read_state": "checkpointing",
    "apply_overrides": "config",
    "load_experiment": "config",
    "student_from_checkpoint": "export",
    "init_lora": "lora",
    "lora_delta": "lora",
    "merge_lora": "lora",
    "ConsistencySettings": "losses",
    "DistillSettings": "losses",
    "consistency_loss": "losses",
    "distill_loss": "losses",
    "pseudo_huber": "losses",
    "reward_terms": "losses",
    "make_mesh": "mesh",
    "StepSettings": "train_step",
    "init_state": "train_step",
    "make_train_step": "train_step",
    "TrainableSpec": "trainable",
    "split_student": "trainable",
    "student_params": "trainable",
    "train": "trainer",
    "validate": "trainer",
}

__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
