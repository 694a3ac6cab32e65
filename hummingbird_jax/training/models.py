"""The models of a training run, named in the experiment config and resolved here.

A run has a student U-Net (trained), a frozen teacher U-Net, a frozen VAE and text encoder, and for
stage 2 any number of frozen reward models. The config names each as :mod:`hummingbird_jax.registry`
does (``vc2``, ``hb-0.7b``, ``sd-kl-f8``, ``vit-h-14``, ``stage2-1b``, or ``tiny-*`` for CPU smoke runs)
and says where the weights
come from: a converted model directory (``hummingbird convert torch-to-jax``), a reward checkpoint
file, or ``random`` (shape-only runs, tests and benchmarks).
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from hummingbird_jax import registry
from hummingbird_jax.errors import ConfigError
from hummingbird_jax.model_dir import components, load_component
from hummingbird_jax.models.clip import CLIPTextConfig, CLIPTextEncoder
from hummingbird_jax.models.unet3d import init_unet, unet_param_shapes
from hummingbird_jax.models.unet_config import UNet3DConfig
from hummingbird_jax.models.vae import VAEConfig, init_vae_params, vae_param_shapes
from hummingbird_jax.rewards import HPSv2Reward, InternVideo2Reward, RewardModel, ViCLIPReward

RANDOM = "random"


def _hpsv2(config, *, size: str, frames: int, vocab: str, **kw) -> RewardModel:
    return HPSv2Reward(config, **kw)


def _internvideo2(config, *, size: str, frames: int, vocab: str, **kw) -> RewardModel:
    if vocab and not os.path.isfile(vocab):
        raise FileNotFoundError(f"internvideo2 reward vocab={vocab!r} is not a file; give bert-large-uncased's "
                                "vocab.txt")
    return InternVideo2Reward(config, vocab=vocab, **kw)


def _viclip(config, *, size: str, frames: int, vocab: str, **kw) -> RewardModel:
    if config.num_frames * config.kernel_size != frames:
        raise ValueError(f"viclip reward size {size!r} reads {config.num_frames * config.kernel_size} frames; "
                         f"set its frames to that (got {frames})")
    return ViCLIPReward(config, **kw)


# The scorer of each reward kind of ``registry.REWARDS`` (whose sizes give the configs), built from its config.
REWARD_BUILDERS = {"hpsv2": _hpsv2, "internvideo2": _internvideo2, "viclip": _viclip}


def reward_model(kind: str, size: str, dtype: str, remat: bool, *, frames: int = 8, vocab: str = "") -> RewardModel:
    """A frozen reward scorer of the registry: ``hpsv2`` (HPSv2.1), ``internvideo2`` (InternVideo2-Stage2;
    ``vocab`` is BERT's ``vocab.txt``) or ``viclip`` (ViCLIP), at a ``size`` the registry names (each also
    ``tiny``, random-weight smoke runs); the video rewards see ``frames`` frames. Any other
    :class:`RewardModel` is named by import path, ``'package.module:ClassName'``, and built with its
    defaults (so a project's own reward enters a config without touching the engine)."""
    if ":" in kind:
        return _imported_reward(kind)
    if kind not in registry.REWARDS:
        raise ConfigError(f"unknown reward kind {kind!r}; expected {', '.join(registry.REWARDS)} or "
                          "'package.module:ClassName'")
    config = registry.reward_config(kind, size, frames)
    return REWARD_BUILDERS[kind](config, size=size, frames=frames, vocab=vocab, dtype=jnp.dtype(dtype), remat=remat)


def _imported_reward(kind: str) -> RewardModel:
    module_name, _, class_name = kind.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"reward kind {kind!r}: cannot import {class_name} from {module_name} ({err})") from None
    model = cls()
    if not isinstance(model, RewardModel):
        raise ValueError(f"reward kind {kind!r}: {class_name} is not a hummingbird_jax.rewards.RewardModel")
    return model


@dataclasses.dataclass(frozen=True)
class RewardSpec:
    """One reward term: ``-weight · score`` of ``frames`` decoded frames chosen ``random``ly (image
    rewards) or ``strided`` evenly over the clip (video rewards)."""

    name: str
    model: RewardModel
    weight: float
    frames: int
    mode: str

    def __post_init__(self):
        if self.mode not in ("random", "strided"):
            raise ValueError(f"rewards.{self.name}.mode = {self.mode!r}; expected random or strided")
        if self.frames < 1:
            raise ValueError(f"rewards.{self.name}.frames must be >= 1, got {self.frames}")

    @property
    def token_key(self) -> str:
        """The batch field with this reward's own prompt tokens (when its model tokenizes text itself)."""
        return f"reward_tokens/{self.name}"


@dataclasses.dataclass(frozen=True)
class ModelSet:
    """Configs of every network in a run (static: hashable, bound into the jitted step)."""

    student: UNet3DConfig
    teacher: UNet3DConfig
    vae: VAEConfig
    text: CLIPTextConfig
    rewards: tuple[RewardSpec, ...] = ()

    @property
    def compute_dtype(self):
        return jnp.dtype(self.student.dtype)


def build_model_set(config) -> ModelSet:
    """Resolve the config's model names into configs with the run's precision and remat policy."""
    m, p = config.models, config.precision
    exec_kw = dict(dtype=p.compute, param_dtype="float32", remat_policy=p.remat)
    time_cond = registry.GUIDANCE_EMBED_DIM if config.stage == "stage2" else None
    student = registry.unet(m.student, time_cond_proj_dim=time_cond, **exec_kw)
    # The frozen teacher needs no remat (it is never differentiated) and keeps its params as stored.
    teacher = registry.unet(m.teacher, dtype=p.compute, param_dtype=p.frozen)
    paired = registry.unet_entry(m.teacher)  # the VAE and text tower the teacher was trained with, by default
    vae = registry.vae(m.vae or paired.vae, dtype=p.compute, param_dtype=p.frozen)
    rewards = []
    for name, r in sorted(config.rewards.items()):
        if float(r.weight) == 0.0:
            continue
        vocab = r.vocab if "vocab" in r else ""  # only rewards with a WordPiece tokenizer have one
        model = reward_model(r.kind, r.size, p.compute, bool(r.remat), frames=int(r.frames), vocab=vocab)
        rewards.append(RewardSpec(name, model, float(r.weight), int(r.frames), r.mode))
    return ModelSet(student, teacher, vae, registry.text_tower(m.text or paired.text), tuple(rewards))


# ---- frozen weights -----------------------------------------------------------------------------


def _cast(tree, dtype):
    dtype = jnp.dtype(dtype)
    return jax.tree_util.tree_map(lambda a: a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a, tree)


def text_param_shapes(cfg: CLIPTextConfig):
    tokens = jnp.zeros((1, cfg.context_length), jnp.int32)
    return jax.eval_shape(lambda k: CLIPTextEncoder(cfg).init(k, tokens), jax.random.key(0))["params"]


def load_teacher_components(weights: str, models: ModelSet, seed: int) -> dict[str, Any]:
    """Teacher U-Net, VAE and text encoder params (host arrays) from a converted model directory, or
    random ones (``weights='random'``, seeded). Shapes are checked against the configs."""
    if weights == RANDOM:
        keys = jax.random.split(jax.random.key(seed), 3)
        text = jax.jit(lambda k: CLIPTextEncoder(models.text).init(k, jnp.zeros((1, models.text.context_length),
                                                                                  jnp.int32)))(keys[2])["params"]
        return {"teacher": init_unet(models.teacher.replace(dtype="float32", param_dtype="float32"), keys[0]),
                "vae": init_vae_params(models.vae.replace(dtype="float32", param_dtype="float32"), keys[1]),
                "text": text}
    if not os.path.isdir(weights):
        raise FileNotFoundError(f"models.weights={weights!r} is not a directory; give a converted VideoCrafter2 "
                                "directory (hummingbird convert torch-to-jax CKPT --config vc2 --out DIR) or 'random'")
    have = components(weights)
    missing = [c for c in ("unet", "vae", "text_encoder") if c not in have]
    if missing:
        raise ValueError(f"{weights}: converted directory lacks {missing} (has {have}); convert the full VC2 checkpoint")
    out = {"teacher": load_component(weights, "unet")[0], "vae": load_component(weights, "vae")[0],
           "text": load_component(weights, "text_encoder")[0]}
    for name, want in (("teacher", unet_param_shapes(models.teacher)), ("vae", vae_param_shapes(models.vae)),
                       ("text", text_param_shapes(models.text))):
        _check_shapes(out[name], want, f"{weights} ({name})")
    return out


def load_reward_params(spec: RewardSpec, checkpoint: str, seed: int):
    if checkpoint == RANDOM:
        return spec.model.init_params(jax.random.key(seed))
    if not os.path.isfile(checkpoint):
        raise FileNotFoundError(f"rewards.{spec.name}.checkpoint={checkpoint!r} is not a file (or use 'random')")
    if isinstance(spec.model, InternVideo2Reward) and not spec.model.vocab:
        raise ValueError(f"rewards.{spec.name}.vocab is empty; released InternVideo2 weights read BERT WordPiece "
                         "ids: give bert-large-uncased's vocab.txt")
    return spec.model.load_params(checkpoint)


def _check_shapes(params, expected, where: str) -> None:
    got = jax.tree_util.tree_map(lambda a: tuple(np.shape(a)), params)
    want = jax.tree_util.tree_map(lambda a: tuple(a.shape), expected)
    if got != want:
        raise ValueError(f"{where}: parameter shapes do not match the configured model")
