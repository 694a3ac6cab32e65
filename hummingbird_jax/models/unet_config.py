"""Configuration of the VideoCrafter2 / Hummingbird 3-D U-Net.

Field names follow the official ``unet_config.params`` so a YAML maps one to one; the extra fields
(``use_middle_block``, dtypes, attention implementation, remat policy) are ours.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import yaml

REMAT_POLICIES = ("none", "full", "dots", "dots_no_batch")
PARAMETERIZATIONS = ("eps", "v")
_NO_MIDDLE_BLOCK_TARGET = "openaimodel3d_t2v_jun_07B.UNetModel"


@dataclasses.dataclass(frozen=True)
class UNet3DConfig:
    in_channels: int = 4
    out_channels: int = 4
    model_channels: int = 320
    attention_resolutions: tuple[int, ...] = (4, 2, 1)
    num_res_blocks: int = 2
    channel_mult: tuple[int, ...] = (1, 2, 4, 4)
    num_head_channels: int = 64
    transformer_depth: int = 1
    context_dim: int = 1024
    use_linear: bool = True
    temporal_conv: bool = True
    temporal_attention: bool = True
    temporal_selfatt_only: bool = True
    use_relative_position: bool = False
    use_causal_attention: bool = False
    temporal_length: int = 16
    addition_attention: bool = True
    fps_cond: bool = True
    dropout: float = 0.0
    # Hummingbird / T2V-Turbo extensions.
    use_middle_block: bool = True
    time_cond_proj_dim: int | None = None
    # What the output predicts (LVDM's ``parameterization``): "eps", the noise (VideoCrafter2 and the
    # Hummingbird release), or "v" = √ᾱ·eps − √(1−ᾱ)·x0 (LVDM's training configs). Not stored in the
    # weights: a checkpoint's config says which.
    parameterization: str = "eps"
    # GroupNorm groups (VideoCrafter2: 32). A narrow model needs fewer, so each group keeps several
    # channels: with one channel per group every norm erases that channel's per-frame mean, which is
    # where a clip's global colour and brightness live.
    norm_groups: int = 32
    # Execution settings (not part of the weights).
    dtype: str = "float32"
    param_dtype: str = "float32"
    attention: str = "auto"
    attention_chunk_size: int = 512  # query rows per block for the chunked implementation
    remat_policy: str = "none"

    def __post_init__(self):
        if self.parameterization not in PARAMETERIZATIONS:
            raise ValueError(f"parameterization {self.parameterization!r}; expected one of {PARAMETERIZATIONS}")
        if self.remat_policy not in REMAT_POLICIES:
            raise ValueError(f"remat_policy {self.remat_policy!r}; expected one of {REMAT_POLICIES}")
        unsupported = {
            "temporal_selfatt_only": not self.temporal_selfatt_only,
            "use_causal_attention": self.use_causal_attention,
            "use_linear": not self.use_linear,
        }
        bad = [name for name, flag in unsupported.items() if flag]
        if bad:
            raise ValueError(f"UNet3DConfig: settings not used by VideoCrafter2/Hummingbird are unsupported: {bad}")
        if self.use_relative_position and self.temporal_length < 1:
            raise ValueError(f"UNet3DConfig: use_relative_position needs temporal_length >= 1 (the longest "
                             f"relative distance with its own embedding), got {self.temporal_length}")
        g = self.norm_groups
        if g < 1 or self.model_channels % g or any((self.model_channels * m) % g for m in self.channel_mult):
            raise ValueError(f"UNet3DConfig: every level's channels must divide by norm_groups={g} (GroupNorm groups)")

    @property
    def time_embed_dim(self) -> int:
        return self.model_channels * 4

    def replace(self, **changes: Any) -> "UNet3DConfig":
        return dataclasses.replace(self, **changes)

    # ---- the released U-Nets (named in hummingbird_jax.registry) -------------------------------
    @classmethod
    def vc2_teacher(cls, time_cond_proj_dim: int | None = None, **overrides) -> "UNet3DConfig":
        """VideoCrafter2: 2 ResBlocks per level and a middle block (1.41B parameters)."""
        return cls(num_res_blocks=2, use_middle_block=True, time_cond_proj_dim=time_cond_proj_dim, **overrides)

    @classmethod
    def hummingbird_0_9b(cls, time_cond_proj_dim: int | None = None, **overrides) -> "UNet3DConfig":
        """Half the blocks per level, middle block kept (0.95B parameters)."""
        return cls(num_res_blocks=1, use_middle_block=True, time_cond_proj_dim=time_cond_proj_dim, **overrides)

    @classmethod
    def hummingbird_0_7b(cls, time_cond_proj_dim: int | None = None, **overrides) -> "UNet3DConfig":
        """Half the blocks per level and no middle block (0.77B parameters)."""
        return cls(num_res_blocks=1, use_middle_block=False, time_cond_proj_dim=time_cond_proj_dim, **overrides)

    @classmethod
    def from_lvdm_yaml(cls, path: str, **overrides) -> "UNet3DConfig":
        """Read ``model.params.unet_config`` of an official VideoCrafter2/Hummingbird YAML."""
        with open(path) as fh:
            doc = yaml.safe_load(fh)
        try:
            unet = doc["model"]["params"]["unet_config"]
        except (KeyError, TypeError):
            raise ValueError(f"{path}: no model.params.unet_config section") from None
        return cls.from_lvdm_dict(unet, source=path, **overrides)

    @classmethod
    def from_lvdm_dict(cls, unet_config: dict, source: str = "<dict>", **overrides) -> "UNet3DConfig":
        params = dict(unet_config.get("params") or {})
        target = unet_config.get("target", "")
        fields = {f.name for f in dataclasses.fields(cls)}
        # Settings of the official module that change nothing in the weights or the maths here.
        ignored = {"use_checkpoint", "num_heads", "tempspatial_aware", "image_cross_attention",
                   "default_fps", "conv_resample", "dims", "use_scale_shift_norm", "resblock_updown",
                   "use_fp16", "legacy"}
        unknown = sorted(set(params) - fields - ignored)
        if unknown:
            raise ValueError(f"{source}: unet_config.params has fields this U-Net does not know: {unknown}")
        kwargs = {k: v for k, v in params.items() if k in fields}
        for key in ("attention_resolutions", "channel_mult"):
            if key in kwargs:
                kwargs[key] = tuple(kwargs[key])
        kwargs["use_middle_block"] = not target.endswith(_NO_MIDDLE_BLOCK_TARGET)
        kwargs.update(overrides)
        return cls(**kwargs)
