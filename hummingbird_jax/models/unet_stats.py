"""Parameter counts and FLOPs of a U-Net config, from abstract shapes only (nothing allocated)."""

from __future__ import annotations

import collections

import jax
import jax.numpy as jnp
import numpy as np

from hummingbird_jax.param_paths import flax_paths
from hummingbird_jax.models.unet3d import UNet3D, block_layout, unet_param_shapes
from hummingbird_jax.models.unet_config import UNet3DConfig

_KIND_NAMES = {"res": "ResBlock 2-D", "spatial": "spatial transformer", "temporal": "temporal transformer",
               "down": "downsample", "up": "upsample", "conv_in": "conv_in"}


def count_params(tree) -> int:
    return int(sum(np.prod(leaf.shape) for leaf in jax.tree_util.tree_leaves(tree)))


def parameter_breakdown(cfg: UNet3DConfig) -> dict[str, dict[str, int]]:
    """Parameter counts by stage (embeddings, input/middle/output blocks, ...) and by layer kind."""
    shapes = unet_param_shapes(cfg)
    layout = block_layout(cfg)
    by_stage: dict[str, int] = collections.Counter()
    by_kind: dict[str, int] = collections.Counter()
    for path, leaf in flax_paths(shapes).items():
        n = int(np.prod(leaf.shape))
        top, *rest = path.split("/")
        stage = top.split(".")[0]
        by_stage[stage] += n
        if stage in ("input_blocks", "output_blocks", "middle_block"):
            layers = layout["middle_block"][0] if stage == "middle_block" else layout[stage][int(top.split(".")[1])]
            kind = _KIND_NAMES[layers[int(rest[0])][0]]
            if "temopral_conv" in rest:
                kind = "temporal conv"
        elif stage == "init_attn":
            kind = "temporal transformer"
        else:
            kind = "output conv" if stage == "out" else "embeddings"
        by_kind[kind] += n
    return {"by_stage": dict(by_stage), "by_kind": dict(by_kind), "total": count_params(shapes)}


def forward_flops(cfg: UNet3DConfig, frames: int, height: int, width: int, batch: int = 1,
                  context_len: int = 77) -> float:
    """FLOPs of one forward at latent size ``frames × height × width`` (XLA's HLO cost analysis)."""
    params = unet_param_shapes(cfg)
    x = jax.ShapeDtypeStruct((batch, frames, height, width, cfg.in_channels), jnp.float32)
    t = jax.ShapeDtypeStruct((batch,), jnp.int32)
    ctx = jax.ShapeDtypeStruct((batch, context_len, cfg.context_dim), jnp.float32)
    cond = None
    if cfg.time_cond_proj_dim is not None:
        cond = jax.ShapeDtypeStruct((batch, cfg.time_cond_proj_dim), jnp.float32)
    # The plain attention path: its cost is the textbook one (chunked attention hides work in loops).
    model = UNet3D(cfg.replace(attention="xla"))

    def forward(p, x, t, ctx, cond):
        return model.apply({"params": p}, x, t, ctx, fps=jnp.full((batch,), 8), timestep_cond=cond)

    analysis = jax.jit(forward).lower(params, x, t, ctx, cond).cost_analysis()
    if isinstance(analysis, (list, tuple)):
        analysis = analysis[0]
    return float(analysis["flops"])
