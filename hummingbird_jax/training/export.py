"""The trained student of a checkpoint step, as plain U-Net params (LoRA merged, subsets reassembled)."""

from __future__ import annotations

from typing import Any

from ml_collections import ConfigDict

from hummingbird_jax.models.unet_config import UNet3DConfig
from hummingbird_jax.training import checkpointing
from hummingbird_jax.training.models import build_model_set
from hummingbird_jax.training.trainable import TrainableSpec, student_params


def student_from_checkpoint(step_dir: str, use_ema: bool = False) -> tuple[Any, UNet3DConfig]:
    """``(params, config)`` of the student saved at ``WORKDIR/checkpoints/<step>`` (host arrays, float32)."""
    if not checkpointing.is_training_checkpoint(step_dir):
        raise FileNotFoundError(f"{step_dir}: not a training checkpoint step (expected state/ and config/)")
    config = ConfigDict(checkpointing.read_config(step_dir))
    models = build_model_set(config)
    spec = TrainableSpec.from_config(config.trainable)
    state = checkpointing.read_state(step_dir)
    trainable = state.get("ema") if use_ema else state["params"]
    if trainable is None:
        raise ValueError(f"{step_dir}: the run kept no EMA (ema.decay was 0)")
    params = student_params(trainable, state.get("base") or {}, spec)
    return params, models.student.replace(dtype="float32", param_dtype="float32", remat_policy="none")
