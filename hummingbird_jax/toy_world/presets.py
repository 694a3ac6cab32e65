"""Sizes of the toy-world run: ``smoke`` (a CI test, minutes), ``default`` (the README's command), ``full``."""

from __future__ import annotations

import dataclasses

from hummingbird_jax.diffusion.samplers import VC2_DDIM_STEPS
from hummingbird_jax.toy_world.classifier import ClassifierConfig
from hummingbird_jax.toy_world.dataset import WorldConfig
from hummingbird_jax.toy_world.reward import RewardTrainConfig
from hummingbird_jax.toy_world.teacher import TOY_STUDENT, TeacherTrainConfig
from hummingbird_jax.toy_world.text_encoder import TOY_TEXT
from hummingbird_jax.toy_world.vae import TOY_VAE, VAETrainConfig, toy_vae_config
from hummingbird_jax.training.config import common

PRESETS = ("smoke", "default", "full")
# Engine steps (batch 8; smoke: batch 2) of each distillation stage. Stage 1 has to rebuild what pruning
# removed, the caption → colour pathway included, and its step is ~3× cheaper than stage 2's (no reward,
# no decode), so it gets the longer run.
STAGE1_STEPS = {"smoke": 2, "default": 400, "full": 2000}
STAGE2_STEPS = {"smoke": 2, "default": 120, "full": 1000}
# Classifier-free guidance scale of the toy world, for sampling, the stage-1 target and the middle of
# stage 2's w range. The released students' 7.5 already over-saturates a toy teacher (VC2's 12 more so):
# its colours clip and its backgrounds break up, and the judge's accuracy on its samples drops (0.17 at 2-3
# against 0.08 at 7.5 for one teacher).
GUIDANCE = 3.0


def latent_size(frame_size) -> tuple[int, int]:
    """The toy VAE's latent grid for frames of ``frame_size`` (height, width)."""
    factor = toy_vae_config().downsample_factor
    return frame_size[0] // factor, frame_size[1] // factor


def distillation_config(loss: str, variant: str, steps: dict[str, int]):
    """What stage 1 and stage 2 on the toy world share: the preset's U-Nets with the toy VAE and text
    tower, clips from the curated manifest at the preset's frame size and length, float32, frequent checkpoints.
    ``steps`` maps each preset (= engine variant) to the stage's step count."""
    if variant not in PRESETS:
        raise ValueError(f"unknown variant {variant!r}; expected one of {PRESETS}")
    preset = get_preset(variant)
    world = preset.world
    c = common(loss)
    c.total_steps, c.checkpoint_every, c.log_every = steps[variant], 50, 1
    c.async_checkpoints = False
    c.models.update(dict(teacher=preset.teacher.unet, student=preset.student_unet, vae=TOY_VAE, text=TOY_TEXT,
                         weights=""))
    c.precision.update(dict(compute="float32", frozen="float32", remat="none"))
    c.data.update(dict(source="clips", path="", batch_size=2 if variant == "smoke" else 8, frames=world.frames,
                       size=world.size, max_stride=1, latent_size=latent_size(world.size), num_workers=0))
    c.sample_prompts = []
    return c


@dataclasses.dataclass(frozen=True)
class Preset:
    name: str
    world: WorldConfig
    classifier: ClassifierConfig
    vae: VAETrainConfig
    reward: RewardTrainConfig
    teacher: TeacherTrainConfig
    eval_prompts: int = 24  # prompts sampled per model in the evaluation (spread over the 120 captions)
    teacher_sampling_steps: int = VC2_DDIM_STEPS  # the teacher's DDIM steps in the evaluation, as VC2 samples
    text_seed: int = 2
    student_unet: str = TOY_STUDENT  # the teacher's U-Net (``teacher.unet``) pruned: what stage 1 and 2 train


# The smoke run's U-Nets: one 32-channel level instead of the toy world's two. Its programs trace and
# compile in about half the time (a smoke run took 162 s against 295 s on 2 cores), and what it checks
# is that every phase runs, not what the models learn.
SMOKE_TEACHER, SMOKE_STUDENT = "tiny-teacher", "tiny-student"


def get_preset(name: str) -> Preset:
    if name == "smoke":
        return Preset(
            name,
            WorldConfig(clips_per_caption=1, zoom_clips=1, dolly_zoom_clips=1, corrupt_clips=2),
            ClassifierConfig(renders_per_caption=1, steps=40),
            VAETrainConfig(steps=20, batch_size=8),
            RewardTrainConfig(steps=30, batch_size=16),
            TeacherTrainConfig(steps=3, batch_size=2, warmup=1, unet=SMOKE_TEACHER),
            eval_prompts=4,
            teacher_sampling_steps=10,
            student_unet=SMOKE_STUDENT,
        )
    if name == "default":
        return Preset(name, WorldConfig(), ClassifierConfig(), VAETrainConfig(steps=250, batch_size=16, lr=2e-3),
                      RewardTrainConfig(), TeacherTrainConfig(steps=1200, batch_size=16, lr=3e-3), eval_prompts=120)
    if name == "full":
        return Preset(name, WorldConfig(clips_per_caption=4), ClassifierConfig(steps=1000),
                      VAETrainConfig(steps=1500, batch_size=32), RewardTrainConfig(steps=1000),
                      TeacherTrainConfig(steps=5000, batch_size=8), eval_prompts=120)
    raise ValueError(f"unknown preset {name!r}; expected one of {PRESETS}")
