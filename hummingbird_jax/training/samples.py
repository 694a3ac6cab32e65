"""Sample videos of fixed prompts during training (``sample_every``), written as mp4 under
``WORKDIR/samples/<step>/``. Stage-2 students sample like the release (LCM, 4 steps, w = 7.5 through
the guidance embedding); stage-1 students like VideoCrafter2 (DDIM with CFG 12, ``sample_steps``).
The noise is the same at every step, so the videos show how training changes one sample."""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np

from hummingbird_jax.diffusion.samplers import ddim_sample, lcm_sample, lcm_timesteps
from hummingbird_jax.diffusion.schedule import guidance_embedding
from hummingbird_jax.models.clip import CLIPTextEncoder
from hummingbird_jax.models.vae import decode_video_latents
from hummingbird_jax.training.losses import unet_eps
from hummingbird_jax.training.models import GUIDANCE_EMBED_DIM, ModelSet
from hummingbird_jax.training.trainable import TrainableSpec, student_params

LCM_STEPS, LCM_GUIDANCE = 4, 7.5
DDIM_GUIDANCE = 12.0


class Sampler:
    def __init__(self, config, models: ModelSet, spec: TrainableSpec, mesh):
        from hummingbird_jax.text import tokenize

        self.prompts = list(config.sample_prompts)
        self.turbo = config.stage == "stage2"
        self.steps = int(config.sample_steps) or (LCM_STEPS if self.turbo else 50)
        self.fps = 8
        f = models.vae.downsample_factor
        frames, (h, w) = int(config.data.frames), tuple(config.data.latent_size)
        if config.data.source != "synthetic":
            h, w = (s // f for s in config.data.size)
        shape = (len(self.prompts), frames, h, w, 4)
        self.tokens = jnp.asarray(tokenize(self.prompts, models.text.context_length))
        self.noise_key = jax.random.key(int(config.seed) + 99)
        self.x_t = jax.random.normal(jax.random.fold_in(self.noise_key, 0), shape, jnp.float32)
        self._fn = jax.jit(self._sample)
        self.models, self.spec = models, spec

    def _sample(self, trainable, base, frozen, tokens, x_t):
        models = self.models
        params = student_params(trainable, base, self.spec)
        context = CLIPTextEncoder(models.text, dtype=models.compute_dtype).apply({"params": frozen["text"]}, tokens)
        b = x_t.shape[0]
        fps = jnp.full((b,), self.fps)
        if self.turbo:
            w_emb = guidance_embedding(jnp.full((b,), LCM_GUIDANCE), GUIDANCE_EMBED_DIM).astype(models.compute_dtype)
            model_fn = lambda x, t: unet_eps(models.student, params, x, t, context, fps, w_emb)  # noqa: E731
            latents = lcm_sample(model_fn, x_t, lcm_timesteps(self.steps), jax.random.fold_in(self.noise_key, 1))
        else:
            uncond = jnp.broadcast_to(frozen["uncond"].astype(context.dtype), context.shape)
            both = jnp.concatenate([context, uncond])
            model_fn = lambda x, t: unet_eps(models.student, params, x, t, both,  # noqa: E731
                                             jnp.concatenate([fps, fps]))
            latents = ddim_sample(model_fn, x_t, jax.random.fold_in(self.noise_key, 1), num_steps=self.steps,
                                  guidance_scale=DDIM_GUIDANCE, use_scale=False)
        return decode_video_latents(frozen["vae"], latents.astype(models.compute_dtype), models.vae, remat=False)

    def write(self, state, frozen, step: int, out_dir: str, is_main: bool) -> None:
        from hummingbird_jax.video_io import to_uint8, write_mp4

        videos = self._fn(state["params"], state["base"], frozen, self.tokens, self.x_t)
        if jax.process_count() > 1:
            from jax.experimental import multihost_utils

            videos = multihost_utils.process_allgather(videos, tiled=True)
        videos = np.asarray(jax.device_get(videos), np.float32)
        if not is_main:
            return
        folder = os.path.join(out_dir, f"{step:08d}")
        os.makedirs(folder, exist_ok=True)
        for i, video in enumerate(to_uint8(videos)):
            write_mp4(os.path.join(folder, f"prompt{i:02d}.mp4"), video, fps=self.fps)
        with open(os.path.join(folder, "prompts.txt"), "w") as fh:
            fh.write("\n".join(self.prompts) + "\n")
