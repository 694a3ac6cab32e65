"""The networks, as Flax modules with their config dataclasses.

* generation: the VideoCrafter2 / Hummingbird U-Net (:mod:`.unet3d`, :mod:`.unet_config`, with its
  sinusoidal embeddings in :mod:`.embeddings`), the VAE (:mod:`.vae`) and the CLIP towers (:mod:`.clip`);
* rewards and evaluation: BERT (:mod:`.bert`), InternVideo2 (:mod:`.internvideo2`, its video encoder
  :mod:`.internvideo2_vision`) and ViCLIP (:mod:`.viclip`), used by ``rewards/`` and ``evaluation/``;
* curation: DOVER (:mod:`.dover`, backbones :mod:`.swin3d` and :mod:`.convnext3d`), whose entry points
  are gathered in :mod:`hummingbird_jax.dover`.

Exported here: each family's config and top-level module, the U-Net and VAE helpers and the embeddings.
Building blocks (layers, attention, transformer blocks, backbones) are imported from their modules.
"""

from hummingbird_jax.models.bert import BertConfig, BertTextEncoder
from hummingbird_jax.models.clip import (
    CLIP,
    CLIPConfig,
    CLIPTextConfig,
    CLIPTextEncoder,
    CLIPVisionConfig,
    CLIPVisionEncoder,
)
from hummingbird_jax.models.dover import DOVER, DOVERConfig
from hummingbird_jax.models.embeddings import guidance_embedding, timestep_embedding
from hummingbird_jax.models.internvideo2 import InternVideo2, InternVideo2Config
from hummingbird_jax.models.internvideo2_vision import InternVideo2Vision, InternVideo2VisionConfig
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
from hummingbird_jax.models.viclip import ViCLIP, ViCLIPConfig

__all__ = [
    "UNet3D", "UNet3DConfig", "init_unet", "unet_param_shapes", "guidance_embedding", "timestep_embedding",
    "AutoencoderKL", "VAEConfig", "decode_video_latents", "encode_video_latents", "init_vae_params",
    "vae_param_shapes", "CLIP", "CLIPConfig", "CLIPTextConfig", "CLIPTextEncoder", "CLIPVisionConfig",
    "CLIPVisionEncoder", "BertConfig", "BertTextEncoder", "InternVideo2", "InternVideo2Config",
    "InternVideo2Vision", "InternVideo2VisionConfig", "ViCLIP", "ViCLIPConfig", "DOVER", "DOVERConfig",
]
