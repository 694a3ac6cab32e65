from hummingbird_jax.convert.vae import vae_from_torch, vae_to_torch, vae_torch_shapes  # noqa: F401
from hummingbird_jax.convert.clip import clip_from_torch, clip_to_torch, load_clip, text_encoder_from_torch, text_encoder_to_torch  # noqa: F401
