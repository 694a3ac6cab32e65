"""The Stable Diffusion KL-f8 autoencoder (``AutoencoderKL``) that VideoCrafter2 and Hummingbird use.

It is a 2-D image VAE: videos are encoded and decoded frame by frame (see :func:`encode_video_latents`
and :func:`decode_video_latents`, the only place the latent scale ``cfg.scale_factor`` is applied).
Module names mirror the official ``lvdm``/``ldm`` attributes (``encoder.down.0.block.1.conv2``,
``decoder.mid.attn_1.q``, ...) so weights convert by name. Arrays are NHWC; images in [-1, 1].
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import yaml

from hummingbird_jax.models.attention import dot_product_attention
from hummingbird_jax.models.layers import conv_float32_sums

__all__ = [
    "VAEConfig",
    "AutoencoderKL",
    "vae_param_shapes",
    "init_vae_params",
    "encode_video_latents",
    "decode_video_latents",
]

NORM_GROUPS = 32
NORM_EPS = 1e-6  # ldm's Normalize(); Flax's default happens to agree, it is set explicitly anyway
LOGVAR_RANGE = (-30.0, 20.0)


@dataclasses.dataclass(frozen=True)
class VAEConfig:
    """Fields follow the official ``first_stage_config.params`` (``ddconfig`` flattened in)."""

    embed_dim: int = 4
    z_channels: int = 4
    in_channels: int = 3
    out_ch: int = 3
    ch: int = 128
    ch_mult: tuple[int, ...] = (1, 2, 4, 4)
    num_res_blocks: int = 2
    attn_resolutions: tuple[int, ...] = ()
    resolution: int = 256  # only decides which levels get attention (``attn_resolutions``)
    # Latent scale (``model.params.scale_factor``): latents seen by the U-Net are ``scale · z``.
    scale_factor: float = 0.18215
    # Execution settings (not part of the weights). GroupNorm always runs in float32.
    dtype: str = "float32"
    param_dtype: str = "float32"
    attention: str = "auto"

    def __post_init__(self):
        if not self.ch_mult:
            raise ValueError("VAEConfig: ch_mult must name at least one level")
        object.__setattr__(self, "ch_mult", tuple(int(m) for m in self.ch_mult))
        object.__setattr__(self, "attn_resolutions", tuple(int(r) for r in self.attn_resolutions))
        widths = [self.ch] + [self.ch * m for m in self.ch_mult]
        if any(w % NORM_GROUPS for w in widths):
            raise ValueError(f"VAEConfig: every level's channels {widths} must divide by {NORM_GROUPS} (GroupNorm groups)")
        for name in ("dtype", "param_dtype"):
            if getattr(self, name) not in ("float32", "bfloat16", "float16"):
                raise ValueError(f"VAEConfig.{name} = {getattr(self, name)!r}; expected float32, bfloat16 or float16")

    @property
    def downsample_factor(self) -> int:
        """Pixels per latent along each side (8 for KL-f8)."""
        return 2 ** (len(self.ch_mult) - 1)

    def replace(self, **changes: Any) -> "VAEConfig":
        return dataclasses.replace(self, **changes)

    @classmethod
    def sd_kl_f8(cls, **overrides) -> "VAEConfig":
        """The real VAE of VideoCrafter2 / Hummingbird (83.65M parameters)."""
        return cls(**overrides)

    @classmethod
    def from_lvdm_yaml(cls, path: str, **overrides) -> "VAEConfig":
        """Read ``model.params.first_stage_config`` (and ``scale_factor``) of an official YAML."""
        with open(path) as fh:
            doc = yaml.safe_load(fh)
        try:
            model_params = doc["model"]["params"]
            stage = model_params["first_stage_config"]
        except (KeyError, TypeError):
            raise ValueError(f"{path}: no model.params.first_stage_config section") from None
        if "scale_factor" in model_params and "scale_factor" not in overrides:
            overrides["scale_factor"] = float(model_params["scale_factor"])
        return cls.from_lvdm_dict(stage, source=path, **overrides)

    @classmethod
    def from_lvdm_dict(cls, first_stage_config: dict, source: str = "<dict>", **overrides) -> "VAEConfig":
        target = first_stage_config.get("target", "")
        if target and not target.endswith("AutoencoderKL"):
            raise ValueError(f"{source}: first_stage_config.target is {target!r}; expected an AutoencoderKL")
        params = dict(first_stage_config.get("params") or {})
        dd = dict(params.get("ddconfig") or {})
        if not dd:
            raise ValueError(f"{source}: first_stage_config.params.ddconfig is missing")
        if not dd.get("double_z", True):
            raise ValueError(f"{source}: ddconfig.double_z is false; AutoencoderKL needs mean and logvar")
        for flag in ("tanh_out", "give_pre_end"):
            if dd.get(flag):
                raise ValueError(f"{source}: ddconfig.{flag} is not used by SD KL-f8 and is unsupported")
        if dd.get("attn_type", "vanilla") != "vanilla":
            raise ValueError(f"{source}: ddconfig.attn_type {dd['attn_type']!r} unsupported; expected 'vanilla'")
        # Dropout only acts in training mode; this VAE is always frozen, so it is read and dropped.
        names = ("z_channels", "in_channels", "out_ch", "ch", "ch_mult", "num_res_blocks",
                 "attn_resolutions", "resolution")
        missing = [n for n in ("z_channels", "ch", "ch_mult", "num_res_blocks") if n not in dd]
        if "embed_dim" not in params:
            missing.append("embed_dim")
        if missing:
            raise ValueError(f"{source}: first_stage_config is missing {missing}")
        fields = {n: dd[n] for n in names if n in dd}
        fields["embed_dim"] = params["embed_dim"]
        fields.update(overrides)
        return cls(**fields)


# ---- building blocks ---------------------------------------------------------------------------


def _conv(cfg: VAEConfig, features: int, kernel: int, name: str, stride: int = 1, padding: Any = None) -> nn.Conv:
    if padding is None:
        padding = [(kernel // 2, kernel // 2)] * 2
    return nn.Conv(features, (kernel, kernel), strides=(stride, stride), padding=padding,
                   dtype=cfg.dtype, param_dtype=cfg.param_dtype, conv_general_dilated=conv_float32_sums, name=name)


def _norm(cfg: VAEConfig, name: str) -> nn.GroupNorm:
    # Statistics in fp32 and two-pass variance, as PyTorch computes them.
    return nn.GroupNorm(num_groups=NORM_GROUPS, epsilon=NORM_EPS, dtype=jnp.float32,
                        param_dtype=cfg.param_dtype, use_fast_variance=False, name=name)


class ResnetBlock(nn.Module):
    cfg: VAEConfig
    out_channels: int

    @nn.compact
    def __call__(self, x):
        dtype = jnp.dtype(self.cfg.dtype)
        h = nn.swish(_norm(self.cfg, "norm1")(x)).astype(dtype)
        h = _conv(self.cfg, self.out_channels, 3, "conv1")(h)
        h = nn.swish(_norm(self.cfg, "norm2")(h)).astype(dtype)
        h = _conv(self.cfg, self.out_channels, 3, "conv2")(h)
        if x.shape[-1] != self.out_channels:
            x = _conv(self.cfg, self.out_channels, 1, "nin_shortcut")(x)
        return x + h


class AttnBlock(nn.Module):
    """Single-head self-attention over all h·w positions with 1×1-conv projections."""

    cfg: VAEConfig

    @nn.compact
    def __call__(self, x):
        b, h, w, c = x.shape
        y = _norm(self.cfg, "norm")(x).astype(jnp.dtype(self.cfg.dtype))
        q, k, v = (_conv(self.cfg, c, 1, n)(y).reshape(b, h * w, 1, c) for n in ("q", "k", "v"))
        out = dot_product_attention(q, k, v, implementation=self.cfg.attention).reshape(b, h, w, c)
        return x + _conv(self.cfg, c, 1, "proj_out")(out)


class Downsample(nn.Module):
    cfg: VAEConfig

    @nn.compact
    def __call__(self, x):
        # ldm pads only bottom/right, then a stride-2 conv without padding (not 'SAME', not symmetric).
        x = jnp.pad(x, ((0, 0), (0, 1), (0, 1), (0, 0)))
        return _conv(self.cfg, x.shape[-1], 3, "conv", stride=2, padding="VALID")(x)


class Upsample(nn.Module):
    cfg: VAEConfig

    @nn.compact
    def __call__(self, x):
        x = jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)  # nearest ×2, exact
        return _conv(self.cfg, x.shape[-1], 3, "conv")(x)


def _mid(cfg: VAEConfig, x):
    c = x.shape[-1]
    x = ResnetBlock(cfg, c, name="mid.block_1")(x)
    x = AttnBlock(cfg, name="mid.attn_1")(x)
    return ResnetBlock(cfg, c, name="mid.block_2")(x)


class Encoder(nn.Module):
    cfg: VAEConfig

    @nn.compact
    def __call__(self, x):
        cfg = self.cfg
        h = _conv(cfg, cfg.ch, 3, "conv_in")(x.astype(cfg.dtype))
        res = cfg.resolution
        for level, mult in enumerate(cfg.ch_mult):
            for i in range(cfg.num_res_blocks):
                h = ResnetBlock(cfg, cfg.ch * mult, name=f"down.{level}.block.{i}")(h)
                if res in cfg.attn_resolutions:
                    h = AttnBlock(cfg, name=f"down.{level}.attn.{i}")(h)
            if level != len(cfg.ch_mult) - 1:
                h = Downsample(cfg, name=f"down.{level}.downsample")(h)
                res //= 2
        h = _mid(cfg, h)
        h = nn.swish(_norm(cfg, "norm_out")(h)).astype(cfg.dtype)
        return _conv(cfg, 2 * cfg.z_channels, 3, "conv_out")(h)


class Decoder(nn.Module):
    cfg: VAEConfig

    @nn.compact
    def __call__(self, z):
        cfg = self.cfg
        levels = len(cfg.ch_mult)
        h = _conv(cfg, cfg.ch * cfg.ch_mult[-1], 3, "conv_in")(z.astype(cfg.dtype))
        h = _mid(cfg, h)
        res = cfg.resolution // 2 ** (levels - 1)
        for level in reversed(range(levels)):  # ldm stores ``up`` lowest resolution last
            for i in range(cfg.num_res_blocks + 1):
                h = ResnetBlock(cfg, cfg.ch * cfg.ch_mult[level], name=f"up.{level}.block.{i}")(h)
                if res in cfg.attn_resolutions:
                    h = AttnBlock(cfg, name=f"up.{level}.attn.{i}")(h)
            if level != 0:
                h = Upsample(cfg, name=f"up.{level}.upsample")(h)
                res *= 2
        h = nn.swish(_norm(cfg, "norm_out")(h)).astype(cfg.dtype)
        return _conv(cfg, cfg.out_ch, 3, "conv_out")(h)


class AutoencoderKL(nn.Module):
    """``encode(x) -> (mean, logvar)``, ``sample``, ``decode(z)``; ``__call__`` runs both (for ``init``).

    Inputs and outputs are NHWC; ``encode``/``moments``/``decode`` return float32 whatever ``cfg.dtype``.
    Latents here are *unscaled*; the video helpers below apply ``cfg.scale_factor``.
    """

    cfg: VAEConfig

    def setup(self):
        cfg = self.cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        self.quant_conv = _conv(cfg, 2 * cfg.embed_dim, 1, "quant_conv")
        self.post_quant_conv = _conv(cfg, cfg.z_channels, 1, "post_quant_conv")

    def moments(self, x):
        """``quant_conv(encoder(x))``: mean ‖ logvar along channels, before clamping."""
        return self.quant_conv(self.encoder(x)).astype(jnp.float32)

    def encode(self, x):
        """Posterior of ``x`` (NHWC, [-1, 1]): ``(mean, logvar)``, logvar clamped to [-30, 20]."""
        mean, logvar = jnp.split(self.moments(x), 2, axis=-1)
        return mean, jnp.clip(logvar, *LOGVAR_RANGE)

    @staticmethod
    def sample(mean, logvar, rng):
        """One reparameterised draw ``mean + exp(logvar / 2) · ε`` (differentiable in mean, logvar)."""
        return mean + jnp.exp(0.5 * logvar) * jax.random.normal(rng, mean.shape, mean.dtype)

    def decode(self, z):
        """Unscaled latents ``(n, h, w, embed_dim)`` → images ``(n, 8h, 8w, out_ch)``, not clamped."""
        return self.decoder(self.post_quant_conv(z.astype(self.cfg.dtype))).astype(jnp.float32)

    def __call__(self, x, rng=None):
        """Reconstruct ``x`` through the posterior mean (or a sample when ``rng`` is given)."""
        mean, logvar = self.encode(x)
        return self.decode(mean if rng is None else self.sample(mean, logvar, rng))


# ---- params ------------------------------------------------------------------------------------


def _init_input(cfg: VAEConfig) -> jax.ShapeDtypeStruct:
    side = cfg.downsample_factor
    return jax.ShapeDtypeStruct((1, side, side, cfg.in_channels), jnp.float32)


def vae_param_shapes(cfg: VAEConfig) -> dict:
    """The params tree as ``ShapeDtypeStruct`` s; nothing is allocated (works at full size)."""
    return jax.eval_shape(
        lambda key: AutoencoderKL(cfg).init(key, jnp.zeros(_init_input(cfg).shape))["params"],
        jax.random.key(0),
    )


def init_vae_params(cfg: VAEConfig, rng) -> dict:
    """Randomly initialised params (tests, tiny configs); real weights come from ``vae_from_torch``."""
    return _compiled_init(cfg)(rng)


@functools.lru_cache(maxsize=8)
def _compiled_init(cfg: VAEConfig):
    """One jitted initialiser per config: compiling it costs far more than running it."""
    return jax.jit(lambda key: AutoencoderKL(cfg).init(key, jnp.zeros(_init_input(cfg).shape))["params"])


# ---- video helpers (the one place the latent scale lives) --------------------------------------


def _frames_map(fn, params, frames, chunk_size: int, remat: bool):
    """Apply ``fn(params, chunk)`` to ``(n, ...)`` frames ``chunk_size`` at a time.

    ``lax.map`` runs the chunks in sequence, so activations of one chunk are alive at a time. Under
    ``remat`` each chunk is ``jax.checkpoint`` ed: the backward pass keeps only the chunk's inputs
    and recomputes its activations, so the gradient of decoding K frames costs one chunk of memory.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    body = jax.checkpoint(fn) if remat else fn
    return jax.lax.map(lambda frame: body(params, frame[None])[0], frames, batch_size=chunk_size)


def _check_video(name: str, x, channels: int):
    if x.ndim != 5 or x.shape[-1] != channels:
        raise ValueError(f"{name} must be (batch, frames, height, width, {channels}); got shape {tuple(x.shape)}")


def encode_video_latents(vae_params, video, cfg: VAEConfig, *, rng=None, chunk_size: int = 4,
                         remat: bool = False):
    """Video ``(b, t, H, W, 3)`` in [-1, 1] → scaled latents ``(b, t, H/8, W/8, embed_dim)``.

    Returns ``scale_factor · z`` with z the posterior mean, or a posterior sample when ``rng`` is
    given (what LVDM's ``get_first_stage_encoding`` does in training).
    """
    _check_video("video", video, cfg.in_channels)
    b, t = video.shape[:2]
    model = AutoencoderKL(cfg)

    def encode(params, x):
        mean, logvar = model.apply({"params": params}, x, method=AutoencoderKL.encode)
        return jnp.concatenate([mean, logvar], axis=-1)

    moments = _frames_map(encode, vae_params, video.reshape(b * t, *video.shape[2:]), chunk_size, remat)
    mean, logvar = jnp.split(moments, 2, axis=-1)
    z = mean if rng is None else AutoencoderKL.sample(mean, logvar, rng)
    return (cfg.scale_factor * z).reshape(b, t, *z.shape[1:])


def decode_video_latents(vae_params, latents, cfg: VAEConfig, *, chunk_size: int = 1, remat: bool = True):
    """Scaled latents ``(b, t, h, w, embed_dim)`` → frames ``(b, t, 8h, 8w, 3)``, about [-1, 1], float32.

    Divides by ``scale_factor`` and decodes frame by frame, ``chunk_size`` frames at once; with
    ``remat`` (default) a gradient through the decode keeps one chunk of activations, not all frames.
    The output is not clamped, so gradients reach every pixel.
    """
    _check_video("latents", latents, cfg.embed_dim)
    b, t = latents.shape[:2]
    model = AutoencoderKL(cfg)

    def decode(params, z):
        return model.apply({"params": params}, z, method=AutoencoderKL.decode)

    z = latents.reshape(b * t, *latents.shape[2:]) / cfg.scale_factor
    frames = _frames_map(decode, vae_params, z, chunk_size, remat)
    return frames.reshape(b, t, *frames.shape[1:])
