"""Sample videos of fixed prompts during training (``sample_every``), written as mp4 under
``WORKDIR/samples/<step>/``. Stage-2 students sample like the release (the registry's
``STUDENT_SAMPLER``: LCM with w through the guidance embedding); stage-1 students like VideoCrafter2
(DDIM with CFG, without ``scale_arr``: ``PLAIN_TEACHER_SAMPLER``); ``sample_steps`` overrides the steps.
The noise is the same at every step, so the videos show how training changes one sample."""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils

from hummingbird_jax import registry
from hummingbird_jax.diffusion.sampling import SamplerSpec, make_sampler
from hummingbird_jax.models.clip import CLIPTextEncoder
from hummingbird_jax.models.vae import decode_video_latents
from hummingbird_jax.text import tokenize
from hummingbird_jax.training.models import ModelSet
from hummingbird_jax.training.trainable import TrainableSpec, student_params
from hummingbird_jax.video_io import to_uint8, write_mp4


def sample_spec(config) -> SamplerSpec:
    """How a run's samples are drawn. Stage 2 trains an LCM student; a stage-1 student samples like a
    teacher trained on the plain latent. Raises ``ValueError`` naming ``sample_steps`` for a step count
    the sampler cannot take."""
    default = registry.STUDENT_SAMPLER if config.stage == "stage2" else registry.PLAIN_TEACHER_SAMPLER
    try:
        return default.replace(steps=int(config.sample_steps) or default.steps)
    except ValueError as err:
        raise ValueError(f"sample_steps={config.sample_steps}: {err}") from None


class Sampler:
    def __init__(self, config, models: ModelSet, spec: TrainableSpec, mesh):
        self.prompts = list(config.sample_prompts)
        self.spec = sample_spec(config)
        f = models.vae.downsample_factor
        frames, (h, w) = int(config.data.frames), tuple(config.data.latent_size)
        if config.data.source != "synthetic":
            h, w = (s // f for s in config.data.size)
        shape = (len(self.prompts), frames, h, w, 4)
        self.tokens = jnp.asarray(tokenize(self.prompts, models.text.context_length))
        self.noise_key = jax.random.key(int(config.seed) + 99)
        self.x_t = jax.random.normal(jax.random.fold_in(self.noise_key, 0), shape, jnp.float32)
        self._fn = jax.jit(self._sample)
        self.models, self.trainable_spec = models, spec
        self._sample_latents = make_sampler(models.student, self.spec)

    def _sample(self, trainable, base, frozen, tokens, x_t):
        models = self.models
        params = student_params(trainable, base, self.trainable_spec)
        context = CLIPTextEncoder(models.text, dtype=models.compute_dtype).apply({"params": frozen["text"]}, tokens)
        latents = self._sample_latents(params, context, frozen["uncond"], x_t, jax.random.fold_in(self.noise_key, 1))
        return decode_video_latents(frozen["vae"], latents.astype(models.compute_dtype), models.vae, remat=False)

    def write(self, state, frozen, step: int, out_dir: str, is_main: bool) -> None:
        videos = self._fn(state["params"], state["base"], frozen, self.tokens, self.x_t)
        if jax.process_count() > 1:
            videos = multihost_utils.process_allgather(videos, tiled=True)
        videos = np.asarray(jax.device_get(videos), np.float32)
        if not is_main:
            return
        folder = os.path.join(out_dir, f"{step:08d}")
        os.makedirs(folder, exist_ok=True)
        for i, video in enumerate(to_uint8(videos)):
            write_mp4(os.path.join(folder, f"prompt{i:02d}.mp4"), video, fps=self.spec.fps)
        with open(os.path.join(folder, "prompts.txt"), "w") as fh:
            fh.write("\n".join(self.prompts) + "\n")
