"""Differentiable rewards on generated frames (HPSv2.1 image reward; InternVideo2 and ViCLIP video-text rewards)."""

from hummingbird_jax.rewards.base import RewardModel, check_frames
from hummingbird_jax.rewards.hps import HPSv2Reward, clip_preprocess, letterbox
from hummingbird_jax.rewards.internvideo2 import InternVideo2Reward
from hummingbird_jax.rewards.viclip import ViCLIPReward

__all__ = ["RewardModel", "check_frames", "HPSv2Reward", "clip_preprocess", "letterbox", "InternVideo2Reward",
           "ViCLIPReward"]
