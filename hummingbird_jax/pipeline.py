"""Text-to-video: a bundle of text encoder, U-Net and VAE (params + configs) and the generation loop.

A :class:`TextToVideo` is loaded from

* an official full checkpoint (``.ckpt``/``.pt``/``.safetensors`` holding ``model.diffusion_model.*``,
  ``first_stage_model.*`` and ``cond_stage_model.model.*``) plus its YAML, or a preset name, or
  nothing (the U-Net variant is then recognised from the checkpoint's keys): :meth:`from_checkpoint`,
  converted by :func:`hummingbird_jax.convert.full_model.convert_checkpoint` like ``hummingbird convert``;
* a converted model directory (:mod:`hummingbird_jax.model_dir`, written by :meth:`TextToVideo.save` or
  ``hummingbird convert torch-to-jax``): :meth:`from_directory`;
* random weights for a preset (benchmarks, smoke runs): :meth:`random_init`.

Students (Hummingbird, T2V-Turbo) sample with the LCM multistep sampler and the guidance embedding;
the VideoCrafter2 teacher samples with 50-step DDIM and classifier-free guidance. Each stage (text,
U-Net loop, VAE decode) is its own compiled program, compiled ahead of time once per shape, so the
timing breakdown separates compilation from running.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from pathlib import Path
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from hummingbird_jax import diffusion, model_dir
from hummingbird_jax.convert.full_model import unet_preset_from_keys  # noqa: F401 (re-exported)
from hummingbird_jax.models.clip import CLIPTextConfig, CLIPTextEncoder
from hummingbird_jax.models.unet3d import UNet3D
from hummingbird_jax.models.unet_config import UNet3DConfig
from hummingbird_jax.models.vae import VAEConfig, decode_video_latents
from hummingbird_jax.video_io import to_uint8

DTYPES = ("float32", "bfloat16")
LATENT_CHANNELS = 4
# Settings of the released models.
STUDENT_STEPS, STUDENT_GUIDANCE = 4, diffusion.samplers.LCM_GUIDANCE_SCALE
TEACHER_STEPS, TEACHER_GUIDANCE = diffusion.samplers.VC2_DDIM_STEPS, diffusion.samplers.VC2_GUIDANCE_SCALE
COMPONENTS = ("unet", "vae", "text_encoder")
# Compiled sampling/decoding programs, keyed by configs and argument shapes (see TextToVideo._compile).
_COMPILED: dict = {}


def tiny_configs(time_cond_proj_dim: int | None = 256) -> tuple[UNet3DConfig, VAEConfig, CLIPTextConfig]:
    """The reduced-width student, VAE and text tower of the reference fixtures (CPU smoke runs)."""
    unet = UNet3DConfig.hummingbird_0_7b(
        time_cond_proj_dim=time_cond_proj_dim, model_channels=32, channel_mult=(1, 2, 2, 2),
        num_head_channels=16, context_dim=48,
    )
    return unet, VAEConfig(ch=32, ch_mult=(1, 2, 2, 2)), CLIPTextConfig(width=48, heads=4, layers=2)


PRESETS = ("hb-0.7b", "hb-0.9b", "vc2", "tiny")


def preset_configs(name: str, time_cond_proj_dim: int | None = 256):
    """``(unet, vae, text)`` configs of a preset: the full models, or ``tiny``."""
    if name == "tiny":
        return tiny_configs(time_cond_proj_dim)
    if name not in PRESETS:
        raise ValueError(f"unknown model preset {name!r}; expected one of {PRESETS}")
    unet = UNet3DConfig.preset(name, time_cond_proj_dim=time_cond_proj_dim)
    return unet, VAEConfig.sd_kl_f8(), CLIPTextConfig.vit_h_14()


def _cast(tree, dtype):
    return jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a, tree)


def _check_dtype(dtype: str) -> str:
    if dtype not in DTYPES:
        raise ValueError(f"dtype {dtype!r}; expected one of {DTYPES}")
    return dtype


@dataclasses.dataclass
class TextToVideo:
    """Configs and params of the three models, and how to sample (student LCM or teacher DDIM+CFG).

    ``params`` is ``{"unet": …, "vae": …, "text_encoder": …}`` (plain pytrees). ``dtype`` is the compute
    (and, for bfloat16, storage) precision of all three models; sampler arithmetic stays float32.
    """

    unet_config: UNet3DConfig
    vae_config: VAEConfig
    text_config: CLIPTextConfig
    params: dict
    teacher: bool = False
    dtype: str = "float32"

    def __post_init__(self):
        _check_dtype(self.dtype)
        if self.unet_config.context_dim != self.text_config.width:
            raise ValueError(f"U-Net context_dim {self.unet_config.context_dim} != text encoder width "
                             f"{self.text_config.width}")
        if self.unet_config.in_channels != self.vae_config.embed_dim:
            raise ValueError(f"U-Net in_channels {self.unet_config.in_channels} != VAE embed_dim "
                             f"{self.vae_config.embed_dim}")
        self.unet_config = self.unet_config.replace(dtype=self.dtype, param_dtype=self.dtype)
        self.vae_config = self.vae_config.replace(dtype=self.dtype, param_dtype=self.dtype)
        self.params = _cast(self.params, jnp.dtype(self.dtype))

    # ---- loading ------------------------------------------------------------------------------
    @classmethod
    def from_state_dict(
        cls,
        state_dict,
        unet_config: UNet3DConfig | None = None,
        vae_config: VAEConfig | None = None,
        text_config: CLIPTextConfig | None = None,
        *,
        yaml_path: str | None = None,
        teacher: bool = False,
        dtype: str = "float32",
        source: str = "checkpoint",
    ) -> "TextToVideo":
        """All three models from one official state dict, through the same converter as
        ``hummingbird convert torch-to-jax`` (:func:`~hummingbird_jax.convert.full_model.convert_checkpoint`:
        configs default to the YAML, the U-Net recognised from the keys, the text tower read off the
        weights)."""
        from hummingbird_jax.convert.full_model import convert_checkpoint

        converted = convert_checkpoint(state_dict, unet_config=unet_config, yaml_path=yaml_path,
                                       vae_config=vae_config, text_config=text_config, source=source)
        return cls._from_components(converted, source=source, teacher=teacher, dtype=dtype)

    @classmethod
    def _from_components(cls, components: dict, *, source, teacher: bool, dtype: str) -> "TextToVideo":
        missing = [name for name in COMPONENTS if name not in components]
        if missing:
            raise ValueError(f"{source}: no {', '.join(missing)} weights; text-to-video needs all of {COMPONENTS}")
        (unet, unet_cfg), (vae, vae_cfg), (text, text_cfg) = (components[name] for name in COMPONENTS)
        return cls(unet_cfg, vae_cfg, text_cfg, {"unet": unet, "vae": vae, "text_encoder": text},
                   teacher=teacher, dtype=dtype)

    @classmethod
    def from_checkpoint(
        cls,
        path,
        config: str | os.PathLike | None = None,
        *,
        teacher: bool = False,
        text_config: CLIPTextConfig | None = None,
        dtype: str = "float32",
    ) -> "TextToVideo":
        """Load an official full checkpoint. ``config`` is its YAML (``model.params.unet_config`` and
        ``first_stage_config``), a preset name, or ``None`` to recognise the U-Net from the keys (full-size
        VAE then). ``time_cond_proj`` is taken from the checkpoint when present."""
        from hummingbird_jax.convert.checkpoint_io import load_torch_checkpoint
        from hummingbird_jax.convert.full_model import unet_config_for_checkpoint

        state_dict = load_torch_checkpoint(path)
        is_yaml = config is not None and Path(config).suffix in (".yaml", ".yml")
        unet_config = unet_config_for_checkpoint(state_dict, None if config is None else str(config))
        return cls.from_state_dict(state_dict, unet_config, None, text_config, yaml_path=str(config) if is_yaml else None,
                                   teacher=teacher, dtype=dtype, source=str(path))

    @classmethod
    def random_init(cls, preset: str = "tiny", *, seed: int = 0, teacher: bool = False, dtype: str = "float32",
                    time_cond_proj_dim: int | None = 256) -> "TextToVideo":
        """Random weights for a preset (``tiny`` or the full ``hb-0.7b``/``hb-0.9b``/``vc2``)."""
        unet_config, vae_config, text_config = preset_configs(preset, None if teacher else time_cond_proj_dim)
        abstract = _abstract_params(unet_config, vae_config, text_config)
        rng = np.random.default_rng(seed)
        params = {name: random_params(abstract[name], rng) for name in ("unet", "vae", "text_encoder")}
        return cls(unet_config, vae_config, text_config, params, teacher=teacher, dtype=dtype)

    def save(self, directory) -> Path:
        """Write a converted model directory (:mod:`hummingbird_jax.model_dir`, the format of
        ``hummingbird convert``), with ``teacher`` recorded in its metadata. Written under a temporary
        name and renamed, so a crash never leaves a half directory."""
        directory = Path(directory).absolute()
        if directory.exists():
            raise FileExistsError(f"{directory} already exists; choose a new output directory")
        tmp = directory.with_name(f".{directory.name}.{os.getpid()}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        configs = {"unet": self.unet_config, "vae": self.vae_config, "text_encoder": self.text_config}
        try:
            for name in COMPONENTS:
                model_dir.save_component(str(tmp), name, self.params[name], configs[name],
                                         metadata={"teacher": self.teacher})
            os.replace(tmp, directory)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return directory

    @classmethod
    def from_directory(cls, directory, *, teacher: bool | None = None, dtype: str = "float32") -> "TextToVideo":
        """Load a converted model directory (written by :meth:`save` or ``hummingbird convert
        torch-to-jax``), shapes checked against the configs. ``teacher=None`` takes the recorded flag
        (a student when none is recorded)."""
        directory = Path(directory).absolute()
        found = model_dir.components(str(directory))
        missing = [name for name in COMPONENTS if name not in found]
        if missing:
            raise ValueError(f"{directory}: converted directory has no {', '.join(missing)}; text-to-video "
                             f"needs all of {COMPONENTS} (convert a full checkpoint)")
        loaded = {name: model_dir.load_component(str(directory), name) for name in COMPONENTS}
        abstract = _abstract_params(*(loaded[name][1] for name in COMPONENTS))
        for name in COMPONENTS:
            _check_shapes(loaded[name][0], abstract[name], str(directory / name))
        if teacher is None:
            teacher = bool(model_dir.read_metadata(str(directory)).get("teacher", False))
        return cls._from_components(loaded, source=directory, teacher=teacher, dtype=dtype)

    # ---- the three stages ---------------------------------------------------------------------
    def encode_text(self, prompts: Sequence[str]) -> jax.Array:
        """Prompts → U-Net context ``(b, 77, width)`` float32."""
        from hummingbird_jax.text_encoding import encode_prompts

        return encode_prompts(self.params["text_encoder"], list(prompts), self.text_config,
                              dtype=jnp.dtype(self.dtype), attention_impl=self.unet_config.attention)

    def _compile(self, name, fn, *args):
        """AOT-compile ``fn`` for these configs and argument shapes once per process; returns
        (executable, seconds spent). Executables depend on shapes, not values, so bundles with the
        same configs share them."""
        key = (name, self.unet_config, self.vae_config, self.text_config, jax.tree_util.tree_structure(args),
               tuple((tuple(a.shape), str(a.dtype)) for a in jax.tree_util.tree_leaves(args)))
        if key in _COMPILED:
            return _COMPILED[key], 0.0
        start = time.perf_counter()
        compiled = jax.jit(fn).lower(*args).compile()
        _COMPILED[key] = compiled
        return compiled, time.perf_counter() - start

    def _sampler(self, steps: int):
        unet = UNet3D(self.unet_config)
        cond_dim = self.unet_config.time_cond_proj_dim
        teacher = self.teacher

        def sample(params, context, uncond, latents, noise, fps, guidance):
            batch = latents.shape[0]
            if teacher:
                both = jnp.concatenate([context, uncond])
                fps2 = jnp.concatenate([fps, fps])

                def model_fn(x, t):
                    return unet.apply({"params": params}, x, t, both, fps=fps2)

                return diffusion.ddim_sample(model_fn, latents, noise, num_steps=steps, guidance_scale=guidance)
            w_emb = None
            if cond_dim is not None:
                w_emb = diffusion.guidance_embedding(jnp.full((batch,), guidance), cond_dim)

            def model_fn(x, t):
                return unet.apply({"params": params}, x, t, context, fps=fps, timestep_cond=w_emb)

            return diffusion.lcm_sample(model_fn, latents, diffusion.lcm_timesteps(steps), noise)

        return sample

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
        return len(diffusion.vc2_ddim_timesteps(steps)) if self.teacher else steps

    def sample_latents(self, context, latents, noise, *, steps: int, fps=8, guidance: float = 7.5,
                       timings: dict | None = None):
        """Run the whole sampling loop as one compiled program → final latents ``(b, t, h, w, 4)``.

        ``latents`` is ``x_T``; ``noise`` is float ``(rows, *latents.shape)`` with ``rows`` from
        :meth:`num_noise_rows`. The teacher pairs every row with the empty-prompt context (CFG).
        """
        latents = jnp.asarray(latents, jnp.float32)
        batch = latents.shape[0]
        fps = jnp.broadcast_to(jnp.asarray(fps, jnp.int32), (batch,))
        uncond = self.encode_text([""] * batch) if self.teacher else jnp.zeros((0,) + context.shape[1:])
        args = (self.params["unet"], jnp.asarray(context, jnp.float32), uncond, latents,
                jnp.asarray(noise, jnp.float32), fps, jnp.float32(guidance))
        compiled, seconds = self._compile(("sample", self.teacher, steps), self._sampler(steps), *args)
        start = time.perf_counter()
        out = jax.block_until_ready(compiled(*args))
        if timings is not None:
            timings["compile"] = timings.get("compile", 0.0) + seconds
            timings["unet"] = timings.get("unet", 0.0) + time.perf_counter() - start
        return out

    def decode(self, latents, *, chunk_size: int = 1, timings: dict | None = None):
        """Latents → float video ``(b, t, 8h, 8w, 3)`` in about [−1, 1], decoded ``chunk_size`` frames at once."""
        args = (self.params["vae"], jnp.asarray(latents, jnp.dtype(self.dtype)))
        compiled, seconds = self._compile(("decode", chunk_size), self._decoder(chunk_size), *args)
        start = time.perf_counter()
        out = jax.block_until_ready(compiled(*args))
        if timings is not None:
            timings["compile"] = timings.get("compile", 0.0) + seconds
            timings["vae"] = timings.get("vae", 0.0) + time.perf_counter() - start
        return out

    # ---- end to end ---------------------------------------------------------------------------
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

    def generate(self, prompts: Sequence[str], steps: int | None = None, frames: int = 16, height: int = 320,
                 width: int = 512, fps: int = 8, guidance: float | None = None, seed: int = 0, *,
                 batch_size: int | None = None, vae_chunk: int = 1, timings: dict | None = None,
                 progress=None, first_index: int = 0) -> np.ndarray:
        """Prompts → uint8 video ``(b, t, height, width, 3)``.

        ``steps``/``guidance`` default to the model's own: 4 and 7.5 for a student, 50 and 12 for the
        teacher. ``batch_size`` prompts go through the models at once (all by default). ``timings``, if
        given, is filled with seconds for ``text``, ``compile``, ``unet`` and ``vae``. ``progress`` is
        called with the number of videos finished after each batch. Video ``i`` is drawn from
        ``fold_in(key(seed), first_index + i)``, whatever the batching.
        """
        if isinstance(prompts, str):
            prompts = [prompts]
        prompts = list(prompts)
        check_generation_args(len(prompts), frames, height, width, fps)
        steps = steps or (TEACHER_STEPS if self.teacher else STUDENT_STEPS)
        guidance = (TEACHER_GUIDANCE if self.teacher else STUDENT_GUIDANCE) if guidance is None else guidance
        batch_size = batch_size or len(prompts)
        timings = {} if timings is None else timings
        videos = []
        for first in range(0, len(prompts), batch_size):
            chunk = prompts[first:first + batch_size]
            start = time.perf_counter()
            context = jax.block_until_ready(self.encode_text(chunk))
            timings["text"] = timings.get("text", 0.0) + time.perf_counter() - start
            latents, noise = self.initial_noise(len(chunk), steps=steps, frames=frames, height=height,
                                                width=width, seed=seed, first_index=first_index + first)
            denoised = self.sample_latents(context, latents, noise, steps=steps, fps=fps, guidance=guidance,
                                           timings=timings)
            video = self.decode(denoised, chunk_size=vae_chunk, timings=timings)
            videos.append(to_uint8(video))
            if progress is not None:
                progress(len(chunk))
        return np.concatenate(videos)


def random_params(abstract, rng: np.random.Generator) -> dict:
    """Random weights for an abstract params tree, drawn with NumPy (compiling the models' ``init``
    costs minutes at full size on a CPU; shapes come from ``eval_shape`` instead). Kernels are
    N(0, 1/fan_in), biases 0, norm scales 1, embeddings N(0, 0.02²)."""

    def leaf(path, spec):
        name = str(getattr(path[-1], "key", path[-1]))
        shape = tuple(spec.shape)
        if name == "bias":
            return np.zeros(shape, np.float32)
        if name == "scale":
            return np.ones(shape, np.float32)
        if name == "logit_scale":
            return np.full(shape, np.log(1 / 0.07), np.float32)
        std = np.sqrt(1.0 / int(np.prod(shape[:-1]))) if name == "kernel" and len(shape) >= 2 else 0.02
        return (rng.standard_normal(shape, dtype=np.float32) * std).astype(np.float32)

    return jax.tree_util.tree_map_with_path(leaf, abstract)


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


def _abstract_params(unet_config, vae_config, text_config) -> dict:
    from hummingbird_jax.models.unet3d import unet_param_shapes
    from hummingbird_jax.models.vae import vae_param_shapes

    tokens = jnp.zeros((1, text_config.context_length), jnp.int32)
    text = jax.eval_shape(lambda: CLIPTextEncoder(text_config).init(jax.random.PRNGKey(0), tokens))["params"]
    return {"unet": unet_param_shapes(unet_config), "vae": vae_param_shapes(vae_config), "text_encoder": text}


def _check_shapes(params, expected, where: str) -> None:
    from hummingbird_jax.convert.rules import flax_paths

    got = {p: tuple(np.shape(v)) for p, v in flax_paths(params).items()}
    want = {p: tuple(v.shape) for p, v in flax_paths(expected).items()}
    if got != want:
        bad = sorted(p for p in set(got) | set(want) if got.get(p) != want.get(p))
        detail = ", ".join(f"{p}: {got.get(p, 'missing')} vs {want.get(p, 'unexpected')}" for p in bad[:10])
        raise ValueError(f"{where}: params do not fit the saved config ({len(bad)} paths): {detail}")
