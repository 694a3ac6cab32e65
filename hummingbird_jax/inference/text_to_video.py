"""Text-to-video generation: prompts → text context → the sampling loop → VAE decode → uint8 video.

Each stage (text, U-Net loop, VAE decode) is its own program, compiled ahead of time once per shape
into the pipeline's own :class:`~hummingbird_jax.inference.compile_cache.CompileCache`, so a timing
breakdown separates compilation from running. The sampling loop is
:func:`hummingbird_jax.diffusion.sampling.make_sampler` with the bundle's default sampler
(:data:`~hummingbird_jax.registry.TEACHER_SAMPLER` or :data:`~hummingbird_jax.registry.STUDENT_SAMPLER`);
the guidance scale and the fps are arguments of the compiled program, so changing them recompiles nothing.

``timings``, where a method takes it, is a dict the method adds its seconds to (``text``, ``compile``,
``unet``, ``vae``), so one dict sums a whole run.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from hummingbird_jax import registry
from hummingbird_jax.diffusion.samplers import vc2_ddim_timesteps
from hummingbird_jax.diffusion.sampling import DEFAULT_FPS, DEFAULT_FRAMES, DEFAULT_SIZE, SamplerSpec, make_sampler
from hummingbird_jax.inference.bundle import ModelBundle
from hummingbird_jax.inference.compile_cache import CompileCache
from hummingbird_jax.models.vae import decode_video_latents
from hummingbird_jax.text_encoding import encode_prompts
from hummingbird_jax.video_io import to_uint8

LATENT_CHANNELS = 4


def _add(timings: dict | None, stage: str, seconds: float) -> None:
    if timings is not None:
        timings[stage] = timings.get(stage, 0.0) + seconds


@dataclasses.dataclass
class TextToVideo(ModelBundle):
    """A :class:`ModelBundle` that generates videos, with the compiled programs it has built."""

    compile_cache: CompileCache = dataclasses.field(default_factory=CompileCache, repr=False, compare=False)

    @property
    def default_sampler(self) -> SamplerSpec:
        """How this bundle samples unless told otherwise (steps, guidance): its preset's sampler, else the
        registry's teacher or student sampler."""
        if self.preset_sampler is not None:
            return self.preset_sampler
        return registry.TEACHER_SAMPLER if self.teacher else registry.STUDENT_SAMPLER

    def sampler(self, steps: int | None = None) -> SamplerSpec:
        """The default sampler with ``steps`` (None: its own); ``ValueError`` for a step count it cannot take."""
        return self.default_sampler.replace(steps=steps or self.default_sampler.steps)

    def encode_text(self, prompts: Sequence[str]) -> jax.Array:
        """Prompts → U-Net context ``(b, 77, width)`` float32."""
        return encode_prompts(self.params["text_encoder"], list(prompts), self.text_config,
                              dtype=jnp.dtype(self.dtype), attention_impl=self.unet_config.attention)

    def _compile(self, name, fn, *args):
        """``(executable, seconds compiling)`` of ``fn`` for these configs and argument shapes."""
        return self.compile_cache.get((name, self.unet_config, self.vae_config, self.text_config), fn, *args)

    def _sampler(self, steps: int):
        sample = make_sampler(self.unet_config, self.sampler(steps))

        def run(params, context, uncond, latents, noise, fps, guidance):
            return sample(params, context, uncond, latents, noise, fps=fps, guidance=guidance)

        return run

    def _decoder(self, chunk_size: int):
        cfg = self.vae_config

        def decode(params, z):
            return decode_video_latents(params, z, cfg, chunk_size=chunk_size, remat=False).astype(jnp.float32)

        return decode

    def precompile(self, batch: int, *, steps: int, frames: int, height: int, width: int,
                   vae_chunk: int = 1) -> dict:
        """Compile the sampling loop and the VAE decode for these sizes without running them (they are
        reused by :meth:`generate`); returns seconds spent per program, 0 for programs already compiled."""
        check_generation_args(batch, frames, height, width, 8)
        f32, width_ctx = jnp.float32, self.text_config.width
        spec = jax.ShapeDtypeStruct
        latent = (batch, frames, height // 8, width // 8, LATENT_CHANNELS)
        context = spec((batch, self.text_config.context_length, width_ctx), f32)
        uncond = spec((batch if self.teacher else 0,) + context.shape[1:], f32)
        sample_args = (self.params["unet"], context, uncond, spec(latent, f32),
                       spec((self.num_noise_rows(steps),) + latent, f32), spec((batch,), jnp.int32), spec((), f32))
        _, sample_s = self._compile(("sample", self.teacher, steps), self._sampler(steps), *sample_args)
        decode_args = (self.params["vae"], spec(latent, jnp.dtype(self.dtype)))
        _, decode_s = self._compile(("decode", vae_chunk), self._decoder(vae_chunk), *decode_args)
        return {"sample": sample_s, "decode": decode_s}

    def num_noise_rows(self, steps: int) -> int:
        """Rows of explicit noise the sampler takes for ``steps`` steps."""
        return len(vc2_ddim_timesteps(steps)) if self.teacher else steps

    def sample_latents(self, context, latents, noise, *, steps: int, fps=DEFAULT_FPS, guidance: float | None = None,
                       timings: dict | None = None):
        """Run the whole sampling loop as one compiled program → final latents ``(b, t, h, w, 4)``.

        ``latents`` is ``x_T``; ``noise`` is float ``(rows, *latents.shape)`` with ``rows`` from
        :meth:`num_noise_rows`. The teacher pairs every row with the empty-prompt context (CFG).
        ``guidance`` defaults to the bundle's default sampler's.
        """
        guidance = self.default_sampler.guidance if guidance is None else guidance
        latents = jnp.asarray(latents, jnp.float32)
        batch = latents.shape[0]
        fps = jnp.broadcast_to(jnp.asarray(fps, jnp.int32), (batch,))
        uncond = self.encode_text([""] * batch) if self.teacher else jnp.zeros((0,) + context.shape[1:])
        args = (self.params["unet"], jnp.asarray(context, jnp.float32), uncond, latents,
                jnp.asarray(noise, jnp.float32), fps, jnp.float32(guidance))
        compiled, seconds = self._compile(("sample", self.teacher, steps), self._sampler(steps), *args)
        start = time.perf_counter()
        out = jax.block_until_ready(compiled(*args))
        _add(timings, "compile", seconds)
        _add(timings, "unet", time.perf_counter() - start)
        return out

    def decode(self, latents, *, chunk_size: int = 1, timings: dict | None = None):
        """Latents → float video ``(b, t, 8h, 8w, 3)`` in about [−1, 1], decoded ``chunk_size`` frames at once."""
        args = (self.params["vae"], jnp.asarray(latents, jnp.dtype(self.dtype)))
        compiled, seconds = self._compile(("decode", chunk_size), self._decoder(chunk_size), *args)
        start = time.perf_counter()
        out = jax.block_until_ready(compiled(*args))
        _add(timings, "compile", seconds)
        _add(timings, "vae", time.perf_counter() - start)
        return out

    def initial_noise(self, count: int, *, steps: int, frames: int, height: int, width: int, seed: int,
                      first_index: int = 0):
        """``x_T`` and per-step noise for videos ``first_index … first_index+count−1`` of a seed.

        Each video draws from ``fold_in(key(seed), index)``, so a video does not change with the batch
        size it is generated in."""
        shape = (frames, height // 8, width // 8, LATENT_CHANNELS)
        rows = self.num_noise_rows(steps)
        lat, noise = [], []
        for index in range(first_index, first_index + count):
            k_lat, k_noise = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(seed), index))
            lat.append(jax.random.normal(k_lat, shape))
            noise.append(jax.random.normal(k_noise, (rows,) + shape))
        return jnp.stack(lat), jnp.stack(noise, axis=1)

    def generate(self, prompts: Sequence[str], steps: int | None = None, frames: int = DEFAULT_FRAMES,
                 height: int = DEFAULT_SIZE[0], width: int = DEFAULT_SIZE[1], fps: int = DEFAULT_FPS,
                 guidance: float | None = None, seed: int = 0, *,
                 batch_size: int | None = None, vae_chunk: int = 1, timings: dict | None = None,
                 progress=None, first_index: int = 0) -> np.ndarray:
        """Prompts → uint8 video ``(b, t, height, width, 3)``.

        ``steps``/``guidance`` default to the bundle's default sampler (the registry's student or teacher
        sampler). ``batch_size`` prompts go through the models at once (all by default). ``timings``, if
        given, is filled with seconds for ``text``, ``compile``, ``unet`` and ``vae``. ``progress`` is
        called with the number of videos finished after each batch. Video ``i`` is drawn from
        ``fold_in(key(seed), first_index + i)``, whatever the batching.
        """
        if isinstance(prompts, str):
            prompts = [prompts]
        prompts = list(prompts)
        check_generation_args(len(prompts), frames, height, width, fps)
        steps = steps or self.default_sampler.steps
        batch_size = batch_size or len(prompts)
        timings = {} if timings is None else timings
        videos = []
        for first in range(0, len(prompts), batch_size):
            chunk = prompts[first:first + batch_size]
            start = time.perf_counter()
            context = jax.block_until_ready(self.encode_text(chunk))
            _add(timings, "text", time.perf_counter() - start)
            latents, noise = self.initial_noise(len(chunk), steps=steps, frames=frames, height=height,
                                                width=width, seed=seed, first_index=first_index + first)
            denoised = self.sample_latents(context, latents, noise, steps=steps, fps=fps, guidance=guidance,
                                           timings=timings)
            video = self.decode(denoised, chunk_size=vae_chunk, timings=timings)
            videos.append(to_uint8(video))
            if progress is not None:
                progress(len(chunk))
        return np.concatenate(videos)


def check_generation_args(count: int, frames: int, height: int, width: int, fps: int) -> None:
    """Reject impossible requests before anything is compiled. Height and width must divide by 64:
    the VAE downsamples by 8 and the U-Net's three downsamplings need the latent to divide by 8."""
    if count < 1:
        raise ValueError("no prompts given")
    if frames < 1:
        raise ValueError(f"frames={frames}; expected at least 1")
    if fps < 1:
        raise ValueError(f"fps={fps}; expected a positive frame rate")
    bad = [f"{name}={v}" for name, v in (("height", height), ("width", width)) if v < 64 or v % 64]
    if bad:
        raise ValueError(f"{', '.join(bad)}: height and width must be positive multiples of 64 "
                         "(8 for the VAE × 8 for the U-Net's latent)")
