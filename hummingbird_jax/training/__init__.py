"""Training: stage-1 guided distillation and stage-2 consistency distillation with rewards.

``trainer.train(config, workdir)`` runs an experiment config (``experiments/``); the pieces it is
made of (losses, the jitted step, LoRA, mesh/shardings, checkpoints) are importable on their own.
"""

from hummingbird_jax.training.checkpointing import is_training_checkpoint, read_config, read_state
from hummingbird_jax.training.config import apply_overrides, load_experiment
from hummingbird_jax.training.export import student_from_checkpoint
from hummingbird_jax.training.lora import init_lora, lora_delta, merge_lora
from hummingbird_jax.training.losses import (
    ConsistencySettings,
    DistillSettings,
    consistency_loss,
    distill_loss,
    pseudo_huber,
    reward_terms,
)
from hummingbird_jax.training.mesh import make_mesh
from hummingbird_jax.training.train_step import StepSettings, init_state, make_train_step
from hummingbird_jax.training.trainable import TrainableSpec, split_student, student_params
from hummingbird_jax.training.trainer import train

__all__ = [
    "ConsistencySettings", "DistillSettings", "StepSettings", "TrainableSpec", "apply_overrides",
    "consistency_loss", "distill_loss", "init_lora", "init_state", "is_training_checkpoint", "load_experiment",
    "lora_delta", "make_mesh", "make_train_step", "merge_lora", "pseudo_huber", "read_config", "read_state",
    "reward_terms", "split_student", "student_from_checkpoint", "student_params", "train",
]
