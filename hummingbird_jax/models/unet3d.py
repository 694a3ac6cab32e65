"""The VideoCrafter2 / Hummingbird 3-D U-Net (Flax Linen, channels-last video).

Block layout and submodule names follow the official ``UNetModel`` exactly (``input_blocks.N.M``,
``middle_block.M``, ``output_blocks.N.M``, ``init_attn.0``, ``out.K``), so a checkpoint converts by a
short rule table (:mod:`hummingbird_jax.convert.unet`). The pruned Hummingbird students are the same
module with ``num_res_blocks=1`` and, for the 0.7B, ``use_middle_block=False``.
"""

from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from hummingbird_jax.models.embeddings import timestep_embedding
from hummingbird_jax.models.layers import GroupNorm, conv, dense
from hummingbird_jax.models.remat import remat_call
from hummingbird_jax.models.resblock import Downsample, ResBlock, Upsample, frame_norm, per_frame
from hummingbird_jax.models.transformer import SpatialTransformer, TemporalTransformer
from hummingbird_jax.models.unet_config import UNet3DConfig

_REMAT_POLICIES = {
    "none": None,
    "full": jax.checkpoint_policies.nothing_saveable,
    "dots": jax.checkpoint_policies.checkpoint_dots,
    "dots_no_batch": jax.checkpoint_policies.dots_with_no_batch_dims_saveable,
}


def _relative_positions(cfg: UNet3DConfig) -> int:
    """Longest relative distance with its own embedding in temporal attention (0: no positions)."""
    return cfg.temporal_length if cfg.use_relative_position else 0


class _TimestepSequential(nn.Module):
    """One ``input_blocks.N`` / ``output_blocks.N`` entry: a list of layers run in order, each fed
    what it needs (ResBlocks the embedding, spatial transformers the context)."""

    layers: tuple[tuple[str, dict], ...]
    config: UNet3DConfig
    deterministic: bool = True

    @nn.compact
    def __call__(self, h, emb, context):
        cfg = self.config
        kw = dict(dtype=jnp.dtype(cfg.dtype), param_dtype=jnp.dtype(cfg.param_dtype))
        policy = _REMAT_POLICIES[cfg.remat_policy]
        attn = dict(depth=cfg.transformer_depth, dropout=cfg.dropout, deterministic=self.deterministic,
                    attention=cfg.attention, chunk_size=cfg.attention_chunk_size, remat_policy=policy,
                    norm_groups=cfg.norm_groups, **kw)
        for index, (kind, args) in enumerate(self.layers):
            name = str(index)
            if kind == "res":
                res = ResBlock(args["out"], dropout=cfg.dropout, temporal_conv=cfg.temporal_conv,
                               deterministic=self.deterministic, norm_groups=cfg.norm_groups, name=name, **kw)
                h = remat_call(res, policy, h, emb)
            elif kind == "spatial":
                h = SpatialTransformer(args["ch"], args["heads"], args["dim_head"], name=name, **attn)(h, context)
            elif kind == "temporal":
                h = TemporalTransformer(args["ch"], args["heads"], args["dim_head"], name=name,
                                        relative_positions=_relative_positions(cfg), **attn)(h)
            elif kind == "down":
                h = Downsample(args["ch"], name=name, **kw)(h)
            elif kind == "up":
                h = Upsample(args["ch"], name=name, **kw)(h)
            else:  # "conv_in"
                h = per_frame(conv(args["out"], (3, 3), name, **kw), h)
        return h


def block_layout(cfg: UNet3DConfig) -> dict[str, list[tuple[tuple[str, dict], ...]]]:
    """The official block structure: lists of layer specs for input, middle and output blocks."""
    mc = cfg.model_channels

    def attention_layers(ch):
        heads, dim_head = ch // cfg.num_head_channels, cfg.num_head_channels
        layers = [("spatial", dict(ch=ch, heads=heads, dim_head=dim_head))]
        if cfg.temporal_attention:
            layers.append(("temporal", dict(ch=ch, heads=heads, dim_head=dim_head)))
        return layers

    inputs = [(("conv_in", dict(out=mc)),)]
    skip_channels = [mc]
    ch, ds = mc, 1
    for level, mult in enumerate(cfg.channel_mult):
        for _ in range(cfg.num_res_blocks):
            ch = mult * mc
            layers = [("res", dict(out=ch))]
            if ds in cfg.attention_resolutions:
                layers += attention_layers(ch)
            inputs.append(tuple(layers))
            skip_channels.append(ch)
        if level != len(cfg.channel_mult) - 1:
            inputs.append((("down", dict(ch=ch)),))
            skip_channels.append(ch)
            ds *= 2
    middle = []
    if cfg.use_middle_block:
        middle = [("res", dict(out=ch)), *attention_layers(ch), ("res", dict(out=ch))]
    outputs = []
    for level, mult in reversed(list(enumerate(cfg.channel_mult))):
        for i in range(cfg.num_res_blocks + 1):
            skip_channels.pop()
            ch = mc * mult
            layers = [("res", dict(out=ch))]
            if ds in cfg.attention_resolutions:
                layers += attention_layers(ch)
            if level and i == cfg.num_res_blocks:
                layers.append(("up", dict(ch=ch)))
                ds //= 2
            outputs.append(tuple(layers))
    return {"input_blocks": inputs, "middle_block": [tuple(middle)] if middle else [], "output_blocks": outputs}


class UNet3D(nn.Module):
    """``apply({'params': p}, x, timesteps, context, fps=…, timestep_cond=None, train=False)``.

    ``x (b, t, h, w, in_channels)`` with ``h, w`` divisible by ``2 ** (len(channel_mult) - 1)``;
    ``timesteps`` and ``fps`` of shape ``(b,)`` (a scalar fps is broadcast); ``context (b, L,
    context_dim)``; ``timestep_cond (b, time_cond_proj_dim)`` the guidance embedding of the
    consistency-distilled students. Returns the prediction (``config.parameterization``: the noise,
    or v), shaped like ``x``; :func:`hummingbird_jax.diffusion.sampling.unet_eps` reads
    either as noise.
    Dropout is active only with ``train=True`` (rng stream ``'dropout'``).
    """

    config: UNet3DConfig

    # fps=16 is the official module's signature value; callers pass the fps (the released models are
    # conditioned on diffusion.sampling.DEFAULT_FPS, which this module cannot import: sampling builds the U-Net).
    @nn.compact
    def __call__(self, x, timesteps, context, fps=16, timestep_cond=None, train: bool = False):
        cfg = self.config
        kw = dict(dtype=jnp.dtype(cfg.dtype), param_dtype=jnp.dtype(cfg.param_dtype))
        b = x.shape[0]
        _check_inputs(cfg, x, context, timestep_cond)
        emb = self._embedding(timesteps, fps, timestep_cond, b, kw)
        deterministic = not train
        layout = block_layout(cfg)
        block = functools.partial(_TimestepSequential, config=cfg, deterministic=deterministic)

        h = x.astype(kw["dtype"])
        skips = []
        for index, layers in enumerate(layout["input_blocks"]):
            h = block(layers, name=f"input_blocks.{index}")(h, emb, context)
            if index == 0 and cfg.addition_attention:
                heads, dim_head = 8, cfg.num_head_channels
                h = TemporalTransformer(cfg.model_channels, heads, dim_head, depth=cfg.transformer_depth,
                                        dropout=cfg.dropout, deterministic=deterministic, attention=cfg.attention,
                                        chunk_size=cfg.attention_chunk_size,
                                        remat_policy=_REMAT_POLICIES[cfg.remat_policy],
                                        norm_groups=cfg.norm_groups, relative_positions=_relative_positions(cfg),
                                        name="init_attn.0", **kw)(h)
            skips.append(h)
        if layout["middle_block"]:
            h = block(layout["middle_block"][0], name="middle_block")(h, emb, context)
        for index, layers in enumerate(layout["output_blocks"]):
            h = jnp.concatenate([h, skips.pop()], axis=-1)
            h = block(layers, name=f"output_blocks.{index}")(h, emb, context)
        h = frame_norm(GroupNorm(cfg.norm_groups, param_dtype=kw["param_dtype"], name="out.0"), h)
        out = per_frame(conv(cfg.out_channels, (3, 3), "out.2", **kw), nn.silu(h))
        return out.astype(x.dtype)

    def _embedding(self, timesteps, fps, timestep_cond, batch, kw):
        cfg = self.config
        mc, ed = cfg.model_channels, cfg.time_embed_dim
        timesteps = jnp.broadcast_to(jnp.asarray(timesteps), (batch,))
        t_emb = timestep_embedding(timesteps, mc)
        if timestep_cond is not None:
            t_emb = t_emb + dense(mc, "time_cond_proj", use_bias=False, **kw)(timestep_cond)
        elif cfg.time_cond_proj_dim is not None and self.is_initializing():
            # Create the projection's params even when init is called without a guidance embedding.
            dense(mc, "time_cond_proj", use_bias=False, **kw)(jnp.zeros((batch, cfg.time_cond_proj_dim), kw["dtype"]))

        def mlp(prefix, h):
            h = dense(ed, f"{prefix}.0", **kw)(h)
            return dense(ed, f"{prefix}.2", **kw)(nn.silu(h))

        emb = mlp("time_embed", t_emb.astype(kw["dtype"]))
        if cfg.fps_cond:
            fps = jnp.broadcast_to(jnp.asarray(fps), (batch,))
            emb = emb + mlp("fps_embedding", timestep_embedding(fps, mc).astype(kw["dtype"]))
        return emb


def _check_inputs(cfg: UNet3DConfig, x, context, timestep_cond) -> None:
    factor = 2 ** (len(cfg.channel_mult) - 1)
    if x.ndim != 5 or x.shape[-1] != cfg.in_channels:
        raise ValueError(f"UNet3D: x must be (b, t, h, w, {cfg.in_channels}), got {x.shape}")
    if x.shape[2] % factor or x.shape[3] % factor:
        raise ValueError(f"UNet3D: latent height/width {x.shape[2:4]} must divide by {factor}")
    if context.ndim != 3 or context.shape[-1] != cfg.context_dim or context.shape[0] != x.shape[0]:
        raise ValueError(f"UNet3D: context must be ({x.shape[0]}, L, {cfg.context_dim}), got {context.shape}")
    if timestep_cond is not None:
        if cfg.time_cond_proj_dim is None:
            raise ValueError("UNet3D: timestep_cond given but the config has no time_cond_proj_dim")
        if timestep_cond.shape != (x.shape[0], cfg.time_cond_proj_dim):
            raise ValueError(f"UNet3D: timestep_cond must be ({x.shape[0]}, {cfg.time_cond_proj_dim}), "
                             f"got {timestep_cond.shape}")


def unet_param_shapes(cfg: UNet3DConfig, frames: int = 2, height: int = 8, width: int = 8) -> Any:
    """Abstract params (``ShapeDtypeStruct`` tree, logical-axis boxes removed); nothing allocated."""
    return nn.unbox(unet_abstract_variables(cfg, frames, height, width)["params"])


def unet_abstract_variables(cfg: UNet3DConfig, frames: int = 2, height: int = 8, width: int = 8) -> Any:
    """``jax.eval_shape`` of ``init``, keeping the ``nn.Partitioned`` boxes with logical axis names."""
    factor = 2 ** (len(cfg.channel_mult) - 1)
    height, width = max(height, factor), max(width, factor)
    x = jax.ShapeDtypeStruct((1, frames, height, width, cfg.in_channels), jnp.float32)
    t = jax.ShapeDtypeStruct((1,), jnp.int32)
    ctx = jax.ShapeDtypeStruct((1, 2, cfg.context_dim), jnp.float32)
    cond = None
    if cfg.time_cond_proj_dim is not None:
        cond = jax.ShapeDtypeStruct((1, cfg.time_cond_proj_dim), jnp.float32)
    model = UNet3D(cfg)
    return jax.eval_shape(
        lambda key: model.init(key, jnp.zeros(x.shape), jnp.zeros(t.shape, t.dtype), jnp.zeros(ctx.shape),
                               fps=jnp.full((1,), 8), timestep_cond=None if cond is None else jnp.zeros(cond.shape)),
        jax.random.key(0),
    )


def init_unet(cfg: UNet3DConfig, key, frames: int = 2, height: int = 8, width: int = 8) -> Any:
    """Randomly initialised params (plain arrays)."""
    factor = 2 ** (len(cfg.channel_mult) - 1)
    return nn.unbox(_compiled_init(cfg, frames, max(height, factor), max(width, factor))(key)["params"])


@functools.lru_cache(maxsize=16)
def _compiled_init(cfg: UNet3DConfig, frames: int, height: int, width: int):
    """One jitted initialiser per config and input size: compiling it costs far more than running it
    (~20 s for the one-level test U-Nets on a CPU), and a process often initialises the same model again."""
    x = jnp.zeros((1, frames, height, width, cfg.in_channels))
    ctx = jnp.zeros((1, 2, cfg.context_dim))
    cond = None if cfg.time_cond_proj_dim is None else jnp.zeros((1, cfg.time_cond_proj_dim))
    return jax.jit(lambda k: UNet3D(cfg).init(k, x, jnp.zeros((1,), jnp.int32), ctx, fps=8, timestep_cond=cond))
