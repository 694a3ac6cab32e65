"""Differentiable rewards on generated frames (HPSv2.1 image reward)."""

from hummingbird_jax.rewards.base import RewardModel, check_frames
from hummingbird_jax.rewards.hps import CLIP_MEAN, CLIP_STD, HPSv2Reward, clip_preprocess, letterbox
from hummingbird_jax.rewards.viclip import ViCLIPReward

__all__ = ["RewardModel", "check_frames", "HPSv2Reward", "CLIP_MEAN", "CLIP_STD", "clip_preprocess", "letterbox",
           "ViCLIPReward"]
