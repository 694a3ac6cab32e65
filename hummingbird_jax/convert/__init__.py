"""Checkpoint conversion between the official PyTorch layouts and the Flax trees (rule tables per model,
reading without PyTorch in ``checkpoint_io``), and the teacher → student pruning."""

from hummingbird_jax.convert.clip import clip_from_torch, clip_to_torch, load_clip, text_encoder_from_torch, text_encoder_to_torch
from hummingbird_jax.convert.unet import unet_from_torch, unet_to_torch
from hummingbird_jax.convert.vae import vae_from_torch, vae_to_torch, vae_torch_shapes

__all__ = ["unet_from_torch", "unet_to_torch", "vae_from_torch", "vae_to_torch", "vae_torch_shapes", "clip_from_torch",
           "clip_to_torch", "load_clip", "text_encoder_from_torch", "text_encoder_to_torch"]
