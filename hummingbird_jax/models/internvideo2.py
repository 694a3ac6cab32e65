"""InternVideo2-Stage2 as a video-text embedding: video encoder + ``vision_proj``, BERT + ``text_proj``.

The video feature is ``normalise(vision_proj(pooled video tokens))`` (the original's
``get_vid_feat_with_grad``), the text feature ``normalise(text_proj(h[CLS]))`` with ``h`` the BERT
states after the layers below ``fusion_layer`` (``encode_text`` in ``text`` mode); their dot product is
the video-text score. Training-only parts (the fusion layers, ITM and MLM heads, the distillation
decoders, the temperature) are not built.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp

from hummingbird_jax.models.bert import BertConfig, BertTextEncoder
from hummingbird_jax.models.clip import normalize_features
from hummingbird_jax.models.internvideo2_vision import InternVideo2Vision, InternVideo2VisionConfig

__all__ = ["InternVideo2Config", "InternVideo2", "video_features", "text_features", "init_params", "param_shapes"]

# Keyword arguments of the original ``PretrainInternVideo2.__init__`` that change no feature: execution
# switches (fused kernels, checkpointing), regularisation, and the shapes of the pre-training heads.
_VISION_IGNORED = frozenset({
    "drop_path_rate", "use_flash_attn", "use_fused_rmsnorm", "use_fused_mlp", "fused_mlp_heuristic",
    "layerscale_no_force_fp32", "use_checkpoint", "checkpoint_num", "clip_teacher_embed_dim",
    "clip_teacher_final_dim", "clip_norm_type", "clip_return_layer", "clip_student_return_interval",
})


@dataclasses.dataclass(frozen=True)
class InternVideo2Config:
    """The video encoder, the text encoder, the joint ``embed_dim`` and the text layers used (``fusion_layer``)."""

    vision: InternVideo2VisionConfig = dataclasses.field(default_factory=InternVideo2VisionConfig)
    bert: BertConfig = dataclasses.field(default_factory=BertConfig)
    embed_dim: int = 512
    fusion_layer: int = 19

    def __post_init__(self):
        if not 0 < self.fusion_layer <= self.bert.num_hidden_layers:
            raise ValueError(f"InternVideo2Config: fusion_layer {self.fusion_layer} must be in "
                             f"1..{self.bert.num_hidden_layers} (the BERT layers)")

    @classmethod
    def from_official(cls, vision: Mapping[str, Any], bert: Mapping[str, Any], embed_dim: int,
                      fusion_layer: int) -> "InternVideo2Config":
        """From the original ``PretrainInternVideo2`` keyword arguments and a BERT ``config.json`` dict."""
        vision = dict(vision)
        if vision.pop("sep_pos_embed", False):
            raise ValueError("InternVideo2 vision: sep_pos_embed=True is not implemented by the original either")
        names = {f.name for f in dataclasses.fields(InternVideo2VisionConfig)}
        unknown = sorted(set(vision) - names - _VISION_IGNORED)
        if unknown:
            raise ValueError(f"InternVideo2 vision: unknown PretrainInternVideo2 arguments {unknown}")
        vision_cfg = InternVideo2VisionConfig(**{k: v for k, v in vision.items() if k in names})
        return cls(vision_cfg, BertConfig.from_json_dict(bert), int(embed_dim), int(fusion_layer))

    @classmethod
    def stage2_1b(cls, num_frames: int = 8) -> "InternVideo2Config":
        """``InternVideo2-stage2_1b-224p-f4``: the 1B video encoder at 224 px (run at ``num_frames``) and
        BERT-large uncased with fusion from layer 19, joint space 512."""
        vision = InternVideo2VisionConfig(img_size=224, patch_size=14, embed_dim=1408, depth=40, num_heads=16,
                                          mlp_ratio=48 / 11, qkv_bias=False, qk_normalization=True,
                                          init_values=1e-5, num_frames=num_frames, tubelet_size=1,
                                          sep_image_video_pos_embed=True, attn_pool_num_heads=16,
                                          clip_embed_dim=768)
        bert = BertConfig(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096,
                          vocab_size=30522, max_position_embeddings=512, type_vocab_size=2, layer_norm_eps=1e-12)
        return cls(vision, bert, embed_dim=512, fusion_layer=19)


class InternVideo2(nn.Module):
    """Both towers and their projections; parameter names follow the original state dict."""

    cfg: InternVideo2Config
    dtype: Any = jnp.float32
    attention_impl: str = "auto"
    remat: bool = False

    def setup(self):
        cfg = self.cfg
        self.vision_encoder = InternVideo2Vision(cfg.vision, self.dtype, self.attention_impl, self.remat)
        self.vision_proj = nn.Dense(cfg.embed_dim, dtype=self.dtype)
        self.text_encoder = BertTextEncoder(cfg.bert, num_layers=cfg.fusion_layer, dtype=self.dtype)
        self.text_proj = nn.Dense(cfg.embed_dim, dtype=self.dtype)

    def encode_video(self, frames):
        _, pooled = self.vision_encoder(frames)
        return normalize_features(self.vision_proj(pooled.astype(self.dtype)))

    def encode_text(self, input_ids, attention_mask):
        hidden = self.text_encoder(input_ids, attention_mask)
        return normalize_features(self.text_proj(hidden[:, 0].astype(self.dtype)))

    def __call__(self, frames, input_ids, attention_mask):
        return self.encode_video(frames), self.encode_text(input_ids, attention_mask)


def _dummy_inputs(cfg: InternVideo2Config):
    v = cfg.vision
    frames = jnp.zeros((1, v.num_frames, v.img_size, v.img_size, v.in_chans), jnp.float32)
    ids = jnp.zeros((1, 8), jnp.int32)
    return frames, ids, jnp.ones_like(ids)


def init_params(cfg: InternVideo2Config, rng: jax.Array) -> dict:
    """Random parameters (tests, shape checks); released weights come from ``params_from_torch``."""
    return jax.jit(lambda key: InternVideo2(cfg).init(key, *_dummy_inputs(cfg))["params"])(rng)


def param_shapes(cfg: InternVideo2Config) -> dict:
    """Parameter shapes from ``jax.eval_shape`` (nothing allocated)."""
    return jax.eval_shape(lambda: InternVideo2(cfg).init(jax.random.key(0), *_dummy_inputs(cfg)))["params"]


def video_features(params, cfg: InternVideo2Config, frames, *, dtype=jnp.float32, attention_impl: str = "auto",
                   remat: bool = False) -> jax.Array:
    """Resized, normalised frames ``(B, T, H, W, 3)`` -> unit video features ``(B, embed_dim)`` float32."""
    model = InternVideo2(cfg, dtype, attention_impl, remat)
    return model.apply({"params": params}, frames, method=InternVideo2.encode_video)


def text_features(params, cfg: InternVideo2Config, input_ids, attention_mask, *, dtype=jnp.float32) -> jax.Array:
    """WordPiece ids and their mask ``(B, L)`` -> unit text features ``(B, embed_dim)`` float32."""
    model = InternVideo2(cfg, dtype)
    return model.apply({"params": params}, input_ids, attention_mask, method=InternVideo2.encode_text)
