from hummingbird_jax.models.vae import AutoencoderKL, VAEConfig, decode_video_latents, encode_video_latents, init_vae_params, vae_param_shapes  # noqa: F401
from hummingbird_jax.models.clip import CLIP, CLIPConfig, CLIPTextConfig, CLIPTextEncoder, CLIPVisionConfig, CLIPVisionEncoder  # noqa: F401
