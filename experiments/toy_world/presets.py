"""Sizes of the toy-world run: ``smoke`` (a CI test, minutes), ``default`` (the README's command), ``full``."""

from __future__ import annotations

import dataclasses

from experiments.toy_world.classifier import ClassifierConfig
from experiments.toy_world.dataset import WorldConfig
from experiments.toy_world.reward import RewardTrainConfig
from experiments.toy_world.teacher import TeacherTrainConfig
from experiments.toy_world.vae import VAETrainConfig

PRESETS = ("smoke", "default", "full")


@dataclasses.dataclass(frozen=True)
class Preset:
    name: str
    world: WorldConfig
    classifier: ClassifierConfig
    vae: VAETrainConfig
    reward: RewardTrainConfig
    teacher: TeacherTrainConfig
    eval_prompts: int = 24  # prompts sampled per model in the evaluation (spread over the world)
    text_seed: int = 2


def get_preset(name: str) -> Preset:
    if name == "smoke":
        return Preset(
            name,
            WorldConfig(clips_per_caption=1, zoom_clips=1, dolly_zoom_clips=1, corrupt_clips=2),
            ClassifierConfig(renders_per_caption=1, steps=40),
            VAETrainConfig(steps=20, batch_size=8),
            RewardTrainConfig(steps=30, batch_size=16),
            TeacherTrainConfig(steps=3, batch_size=2, warmup=1),
            eval_prompts=4,
        )
    if name == "default":
        return Preset(name, WorldConfig(), ClassifierConfig(), VAETrainConfig(steps=250, batch_size=16, lr=2e-3),
                      RewardTrainConfig(), TeacherTrainConfig(steps=300, batch_size=8))
    if name == "full":
        return Preset(name, WorldConfig(clips_per_caption=4), ClassifierConfig(steps=1000),
                      VAETrainConfig(steps=1500, batch_size=32), RewardTrainConfig(steps=1000),
                      TeacherTrainConfig(steps=5000, batch_size=8), eval_prompts=120)
    raise ValueError(f"unknown preset {name!r}; expected one of {PRESETS}")
