"""The three models of text-to-video (text encoder, U-Net, VAE) as one bundle: configs, params, and
where they come from or go to.

A :class:`ModelBundle` is loaded from

* an official full checkpoint (``.ckpt``/``.pt``/``.safetensors`` holding ``model.diffusion_model.*``,
  ``first_stage_model.*`` and ``cond_stage_model.model.*``) plus its YAML, or a U-Net name, or
  nothing (the U-Net is then recognised from the checkpoint's keys): :meth:`~ModelBundle.from_checkpoint`,
  converted by :func:`hummingbird_jax.convert.full_model.convert_checkpoint` like ``hummingbird convert``;
* a converted model directory (:mod:`hummingbird_jax.model_dir`, written by :meth:`~ModelBundle.save`
  or ``hummingbird convert torch-to-jax``): :meth:`~ModelBundle.from_directory`;
* random weights for a U-Net of :mod:`hummingbird_jax.registry` with its VAE and text tower
  (benchmarks, smoke runs): :meth:`~ModelBundle.random_init`.

``teacher`` says how the bundle samples: the VideoCrafter2 teacher with DDIM and classifier-free
guidance, a distilled student (Hummingbird, T2V-Turbo) with LCM and the guidance embedding.
``preset_sampler``, set by :meth:`~ModelBundle.random_init`, is the registry entry's own sampler
(e.g. ``tiny-teacher`` samples without VC2's ``scale_arr``).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from hummingbird_jax import model_dir, registry
from hummingbird_jax.convert.checkpoint_io import load_torch_checkpoint
from hummingbird_jax.convert.full_model import convert_checkpoint, unet_config_for_checkpoint
from hummingbird_jax.convert.rules import flax_paths
from hummingbird_jax.diffusion.sampling import SamplerSpec
from hummingbird_jax.hardware import DTYPES
from hummingbird_jax.models.clip import CLIPTextConfig, CLIPTextEncoder
from hummingbird_jax.models.unet3d import unet_param_shapes
from hummingbird_jax.models.unet_config import UNet3DConfig
from hummingbird_jax.models.vae import VAEConfig, vae_param_shapes

COMPONENTS = ("unet", "vae", "text_encoder")


@dataclasses.dataclass
class ModelBundle:
    """Configs and params of the three models, and whether they sample as the teacher.

    ``params`` is ``{"unet": …, "vae": …, "text_encoder": …}`` (plain pytrees). ``dtype`` is the compute
    (and, for bfloat16, storage) precision of all three models; sampler arithmetic stays float32.
    """

    unet_config: UNet3DConfig
    vae_config: VAEConfig
    text_config: CLIPTextConfig
    params: dict
    teacher: bool = False
    dtype: str = "float32"
    preset_sampler: SamplerSpec | None = None  # the registry entry's sampler; None: by ``teacher``

    def __post_init__(self):
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype {self.dtype!r}; expected one of {DTYPES}")
        if self.unet_config.context_dim != self.text_config.width:
            raise ValueError(f"U-Net context_dim {self.unet_config.context_dim} != text encoder width "
                             f"{self.text_config.width}")
        if self.unet_config.in_channels != self.vae_config.embed_dim:
            raise ValueError(f"U-Net in_channels {self.unet_config.in_channels} != VAE embed_dim "
                             f"{self.vae_config.embed_dim}")
        self.unet_config = self.unet_config.replace(dtype=self.dtype, param_dtype=self.dtype)
        self.vae_config = self.vae_config.replace(dtype=self.dtype, param_dtype=self.dtype)
        self.params = _cast(self.params, jnp.dtype(self.dtype))

    @classmethod
    def from_state_dict(cls, state_dict, unet_config: UNet3DConfig | None = None, vae_config: VAEConfig | None = None,
                        text_config: CLIPTextConfig | None = None, *, yaml_path: str | None = None,
                        teacher: bool = False, dtype: str = "float32", source: str = "checkpoint"):
        """All three models from one official state dict, through the same converter as
        ``hummingbird convert torch-to-jax`` (configs default to the YAML, the U-Net recognised from the
        keys, the text tower read off the weights)."""
        converted = convert_checkpoint(state_dict, unet_config=unet_config, yaml_path=yaml_path,
                                       vae_config=vae_config, text_config=text_config, source=source)
        return cls._from_components(converted, source=source, teacher=teacher, dtype=dtype)

    @classmethod
    def _from_components(cls, components: dict, *, source, teacher: bool, dtype: str):
        missing = [name for name in COMPONENTS if name not in components]
        if missing:
            raise ValueError(f"{source}: no {', '.join(missing)} weights; text-to-video needs all of {COMPONENTS}")
        (unet, unet_cfg), (vae, vae_cfg), (text, text_cfg) = (components[name] for name in COMPONENTS)
        return cls(unet_cfg, vae_cfg, text_cfg, {"unet": unet, "vae": vae, "text_encoder": text},
                   teacher=teacher, dtype=dtype)

    @classmethod
    def from_checkpoint(cls, path, config: str | os.PathLike | None = None, *, teacher: bool = False,
                        text_config: CLIPTextConfig | None = None, dtype: str = "float32"):
        """Load an official full checkpoint. ``config`` is its YAML (``model.params.unet_config`` and
        ``first_stage_config``), a U-Net name, or ``None`` to recognise the U-Net from the keys (full-size
        VAE then). ``time_cond_proj`` is taken from the checkpoint when present."""
        state_dict = load_torch_checkpoint(path)
        is_yaml = config is not None and Path(config).suffix in (".yaml", ".yml")
        unet_config = unet_config_for_checkpoint(state_dict, None if config is None else str(config))
        return cls.from_state_dict(state_dict, unet_config, None, text_config, yaml_path=str(config) if is_yaml else None,
                                   teacher=teacher, dtype=dtype, source=str(path))

    @classmethod
    def random_init(cls, name: str = "tiny-0.7b", *, seed: int = 0, teacher: bool | None = None,
                    dtype: str = "float32", time_cond_proj_dim: int | None = registry.GUIDANCE_EMBED_DIM):
        """Random weights for a U-Net of the registry with its VAE and text tower; a student gets the
        guidance projection (``time_cond_proj_dim``), the teacher none. ``teacher=None`` takes the entry's
        role; in that role the bundle samples with the entry's sampler, in the other role with the
        registry's teacher or student sampler."""
        entry = registry.unet_entry(name)
        teacher = entry.is_teacher if teacher is None else teacher
        unet_config = entry.build(time_cond_proj_dim=None if teacher else time_cond_proj_dim)
        vae_config, text_config = registry.vae(entry.vae), registry.text_tower(entry.text)
        abstract = abstract_params(unet_config, vae_config, text_config)
        rng = np.random.default_rng(seed)
        params = {name: random_params(abstract[name], rng) for name in COMPONENTS}
        return cls(unet_config, vae_config, text_config, params, teacher=teacher, dtype=dtype,
                   preset_sampler=entry.sampler if teacher == entry.is_teacher else None)

    @classmethod
    def from_directory(cls, directory, *, teacher: bool | None = None, dtype: str = "float32"):
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
        abstract = abstract_params(*(loaded[name][1] for name in COMPONENTS))
        for name in COMPONENTS:
            _check_shapes(loaded[name][0], abstract[name], str(directory / name))
        if teacher is None:
            teacher = bool(model_dir.read_metadata(str(directory)).get("teacher", False))
        return cls._from_components(loaded, source=directory, teacher=teacher, dtype=dtype)

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


def abstract_params(unet_config, vae_config, text_config) -> dict:
    """Shapes and dtypes of the three models' params, without computing them."""
    tokens = jnp.zeros((1, text_config.context_length), jnp.int32)
    text = jax.eval_shape(lambda: CLIPTextEncoder(text_config).init(jax.random.PRNGKey(0), tokens))["params"]
    return {"unet": unet_param_shapes(unet_config), "vae": vae_param_shapes(vae_config), "text_encoder": text}


def _cast(tree, dtype):
    return jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a, tree)


def _check_shapes(params, expected, where: str) -> None:
    got = {p: tuple(np.shape(v)) for p, v in flax_paths(params).items()}
    want = {p: tuple(v.shape) for p, v in flax_paths(expected).items()}
    if got != want:
        bad = sorted(p for p in set(got) | set(want) if got.get(p) != want.get(p))
        detail = ", ".join(f"{p}: {got.get(p, 'missing')} vs {want.get(p, 'unexpected')}" for p in bad[:10])
        raise ValueError(f"{where}: params do not fit the saved config ({len(bad)} paths): {detail}")
