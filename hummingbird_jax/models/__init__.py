"""The networks: the VideoCrafter2 / Hummingbird U-Net, the VAE and the CLIP towers (the reward and
evaluation networks live beside their users, in ``rewards/`` and ``evaluation/``)."""

from hummingbird_jax.models.clip import CLIP, CLIPConfig, CLIPTextConfig, CLIPTextEncoder, CLIPVisionConfig, CLIPVisionEncoder
from hummingbird_jax.models.unet3d import UNet3D, init_unet, unet_param_shapes
from hummingbird_jax.models.unet_config import UNet3DConfig
from hummingbird_jax.models.vae import (
    AutoencoderKL,
    VAEConfig,
    decode_video_latents,
    encode_video_latents,
    init_vae_params,
    vae_param_shapes,
)

__all__ = ["UNet3D", "UNet3DConfig", "init_unet", "unet_param_shapes", "AutoencoderKL", "VAEConfig",
           "decode_video_latents", "encode_video_latents", "init_vae_params", "vae_param_shapes", "CLIP", "CLIPConfig",
           "CLIPTextConfig", "CLIPTextEncoder", "CLIPVisionConfig", "CLIPVisionEncoder"]
