"""ViCLIP (InternVid's video CLIP): a ViT over all frames' patches at once, and a CLIP text tower.

The video tower is an image ViT made temporal in three places, as in the released ``viclip_vision.py``:

* the patch embedding is a 3-D convolution over ``kernel_size`` frames × ``patch_size``² pixels
  (``kernel_size=1`` for ViCLIP-L: each frame is patchified on its own);
* every patch token gets the spatial position embedding *and* a learned per-frame embedding
  (``temporal_positional_embedding``, one row per temporal token; a single-frame input gets their mean);
* one class token (``class_embedding`` + spatial position 0) is prepended to the patch tokens of all
  frames, ordered patch-major then frame, and the whole sequence goes through one transformer; the
  video feature is the class token after ``ln_post``, projected by ``proj``.

The text tower is OpenAI CLIP's (causal, pooled at the EOT token, projected) with a 32-token context.
Both towers use QuickGELU (``x·σ(1.702x)``), unlike OpenCLIP's ViT-H in ``models/clip.py``.

Flax submodules carry the PyTorch attribute names (``vision_encoder.transformer.resblocks.3.mlp.c_fc``),
so conversion (``hummingbird_jax/convert/viclip.py``) is a short rule table. Parameters stay float32;
``dtype`` is the matmul dtype; layer norms, softmax and the residual stream stay float32.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from hummingbird_jax.models.clip import Transformer

__all__ = ["ViCLIPConfig", "ViCLIPVision", "ViCLIPText", "ViCLIP", "fit_context"]

_LN_EPS = 1e-5  # torch.nn.LayerNorm default

# What both released ViCLIP sizes share: 8 frames at 224², patch-wise temporal kernel, 32 CLIP-BPE tokens,
# a 12-layer text tower.
_RELEASED_COMMON = dict(input_resolution=224, kernel_size=1, num_frames=8, context_length=32, vocab_size=49408,
                        transformer_layers=12)


@dataclasses.dataclass(frozen=True)
class ViCLIPConfig:
    """Shapes of both towers, named after the official constructors' arguments.

    Vision: ``VisionTransformer(input_resolution, patch_size, width, layers, heads, output_dim,
    kernel_size, num_frames)``; ``num_frames`` counts temporal tokens (frames / ``kernel_size``).
    Text: ``CLIP_TEXT(embed_dim, context_length, vocab_size, transformer_width, transformer_heads,
    transformer_layers)``; ``text_width``, ``text_layers`` and ``text_heads`` are accepted as aliases of
    the ``transformer_*`` fields. The defaults are ViCLIP-L (:meth:`vit_l14`).
    """

    input_resolution: int = 224
    patch_size: int = 14
    width: int = 1024
    layers: int = 24
    heads: int = 16
    output_dim: int = 768
    kernel_size: int = 1
    num_frames: int = 8
    embed_dim: int = 768
    context_length: int = 32
    vocab_size: int = 49408
    transformer_width: Optional[int] = None
    transformer_heads: Optional[int] = None
    transformer_layers: Optional[int] = None
    text_width: dataclasses.InitVar[Optional[int]] = None
    text_layers: dataclasses.InitVar[Optional[int]] = None
    text_heads: dataclasses.InitVar[Optional[int]] = None

    def __post_init__(self, text_width, text_layers, text_heads):
        defaults = {"transformer_width": 768, "transformer_heads": 12, "transformer_layers": 12}
        for field, alias, value in (
            ("transformer_width", "text_width", text_width),
            ("transformer_heads", "text_heads", text_heads),
            ("transformer_layers", "text_layers", text_layers),
        ):
            current = getattr(self, field)
            if value is not None and current is not None and value != current:
                raise ValueError(f"ViCLIPConfig: {alias}={value} contradicts {field}={current}")
            object.__setattr__(self, field, current if current is not None else (value or defaults[field]))
        if self.width % self.heads:
            raise ValueError(f"ViCLIPConfig: width {self.width} is not divisible by heads {self.heads}")
        if self.transformer_width % self.transformer_heads:
            raise ValueError(
                f"ViCLIPConfig: transformer_width {self.transformer_width} is not divisible by "
                f"transformer_heads {self.transformer_heads}"
            )
        if self.input_resolution % self.patch_size:
            raise ValueError(
                f"ViCLIPConfig: input_resolution {self.input_resolution} is not a multiple of patch_size {self.patch_size}"
            )
        if self.output_dim != self.embed_dim:
            raise ValueError(
                f"ViCLIPConfig: video output_dim {self.output_dim} differs from text embed_dim {self.embed_dim}; "
                "the score is their cosine"
            )

    @classmethod
    def vit_l14(cls) -> "ViCLIPConfig":
        """ViCLIP-L/14 (``ViClip-InternVid-10M-FLT.pth``): 8 frames at 224², CLIP-L text tower, 32 tokens."""
        return cls(patch_size=14, width=1024, layers=24, heads=16, output_dim=768, embed_dim=768,
                   transformer_width=768, transformer_heads=12, **_RELEASED_COMMON)

    @classmethod
    def vit_b16(cls) -> "ViCLIPConfig":
        """ViCLIP-B/16 (``size='b'`` in the official constructor)."""
        return cls(patch_size=16, width=768, layers=12, heads=12, output_dim=512, embed_dim=512,
                   transformer_width=512, transformer_heads=8, **_RELEASED_COMMON)

    @property
    def grid(self) -> int:
        return self.input_resolution // self.patch_size

    @property
    def input_frames(self) -> int:
        """Frames a video must have: one temporal token per ``kernel_size`` frames."""
        return self.num_frames * self.kernel_size


class PatchEmbed3D(nn.Module):
    """``Conv3d(3, width, (k, p, p), stride (k, p, p), bias=False)`` as a matmul over flattened tubelets.

    Stride equals kernel, so the convolution is exactly patchify-then-project; written that way its
    gradient is a reshape of one matmul instead of a transposed 3-D convolution (slow on CPU). The
    kernel keeps ``nn.Conv``'s ``(k, p, p, 3, width)`` layout. Output ``(B, T / k, grid², width)``.
    """

    width: int
    kernel_size: int
    patch_size: int
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, frames):
        k, p = self.kernel_size, self.patch_size
        b, t, h, w, c = frames.shape
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (k, p, p, c, self.width))
        x = frames.reshape(b, t // k, k, h // p, p, w // p, p, c)
        x = jnp.transpose(x, (0, 1, 3, 5, 2, 4, 6, 7)).reshape(b, t // k, (h // p) * (w // p), k * p * p * c)
        return jnp.dot(x.astype(self.dtype), kernel.reshape(-1, self.width).astype(self.dtype)).astype(jnp.float32)


class ViCLIPVision(nn.Module):
    """The video tower: ``(B, T, H, W, 3)`` normalised frames -> ``(B, output_dim)`` (not normalised)."""

    cfg: ViCLIPConfig
    dtype: jnp.dtype = jnp.float32
    attention_impl: str = "auto"
    remat: bool = False

    @nn.compact
    def __call__(self, frames):
        cfg = self.cfg
        size = cfg.input_resolution
        if frames.ndim != 5 or tuple(frames.shape[2:]) != (size, size, 3):
            raise ValueError(f"video frames must be (batch, frames, {size}, {size}, 3), got {tuple(frames.shape)}")
        b, t = frames.shape[:2]
        if t % cfg.kernel_size or t // cfg.kernel_size not in (1, cfg.num_frames):
            raise ValueError(
                f"video of {t} frames: expected {cfg.input_frames} (num_frames {cfg.num_frames} × kernel_size "
                f"{cfg.kernel_size}) or {cfg.kernel_size}"
            )
        scale = cfg.width**-0.5
        x = PatchEmbed3D(cfg.width, cfg.kernel_size, cfg.patch_size, self.dtype, name="conv1")(frames)
        t, n = x.shape[1], cfg.grid * cfg.grid
        class_embedding = self.param("class_embedding", nn.initializers.normal(scale), (cfg.width,))
        positional = self.param("positional_embedding", nn.initializers.normal(scale), (n + 1, cfg.width))
        temporal = self.param(
            "temporal_positional_embedding", nn.initializers.zeros, (1, cfg.num_frames, cfg.width)
        )[0]
        # A single temporal token gets the mean temporal embedding (the official "unused parameter" path).
        temporal = jnp.mean(temporal, axis=0, keepdims=True) if t == 1 else temporal
        x = x + positional[1:][None, None] + temporal[None, :, None]
        x = jnp.transpose(x, (0, 2, 1, 3)).reshape(b, n * t, cfg.width)  # patch-major, then frame
        cls = jnp.broadcast_to(class_embedding + positional[0], (b, 1, cfg.width))
        x = jnp.concatenate([cls, x], axis=1)
        x = nn.LayerNorm(epsilon=_LN_EPS, dtype=jnp.float32, name="ln_pre")(x)
        x = Transformer(cfg.width, cfg.heads, cfg.layers, dtype=self.dtype, attention_impl=self.attention_impl,
                        activation="quick_gelu", remat=self.remat, name="transformer")(x)
        pooled = nn.LayerNorm(epsilon=_LN_EPS, dtype=jnp.float32, name="ln_post")(x[:, 0])
        proj = self.param("proj", nn.initializers.normal(scale), (cfg.width, cfg.output_dim))
        return jnp.dot(pooled.astype(self.dtype), proj.astype(self.dtype)).astype(jnp.float32)


def fit_context(tokens: jax.Array, context_length: int, eot_token: int) -> jax.Array:
    """OpenCLIP token rows of any length -> ``context_length`` columns, as if tokenized at that length.

    Shorter rows are zero-padded; longer rows are cut, and a row whose EOT was cut off ends in EOT
    (the tokenizer's truncation rule), so the engine's 77-token prompts score like 32-token ones.
    """
    length = tokens.shape[1]
    if length <= context_length:
        return jnp.pad(tokens, ((0, 0), (0, context_length - length)))
    cut = tokens[:, :context_length]
    overflow = jnp.any(tokens[:, context_length:] != 0, axis=1)
    return cut.at[:, -1].set(jnp.where(overflow, eot_token, cut[:, -1]))


class ViCLIPText(nn.Module):
    """The text tower: ``(B, context_length)`` token ids -> ``(B, embed_dim)`` at EOT (not normalised)."""

    cfg: ViCLIPConfig
    dtype: jnp.dtype = jnp.float32
    attention_impl: str = "auto"

    @nn.compact
    def __call__(self, tokens):
        cfg = self.cfg
        if tokens.ndim != 2 or tokens.shape[1] != cfg.context_length:
            raise ValueError(f"text tokens must be (batch, {cfg.context_length}), got {tuple(tokens.shape)}")
        width = cfg.transformer_width
        x = nn.Embed(cfg.vocab_size, width, embedding_init=nn.initializers.normal(0.02), name="token_embedding")(tokens)
        positional = self.param("positional_embedding", nn.initializers.normal(0.01), (cfg.context_length, width))
        x = x.astype(jnp.float32) + positional
        x = Transformer(width, cfg.transformer_heads, cfg.transformer_layers, causal=True, dtype=self.dtype,
                        attention_impl=self.attention_impl, activation="quick_gelu", name="transformer")(x)
        x = nn.LayerNorm(epsilon=_LN_EPS, dtype=jnp.float32, name="ln_final")(x)
        eot = jnp.argmax(tokens, axis=-1)  # EOT has the largest id in the vocabulary
        pooled = jnp.take_along_axis(x, eot[:, None, None], axis=1)[:, 0]
        projection = self.param("text_projection", nn.initializers.normal(width**-0.5), (width, cfg.embed_dim))
        return jnp.dot(pooled.astype(self.dtype), projection.astype(self.dtype)).astype(jnp.float32)


class ViCLIP(nn.Module):
    """Both towers under the official names (``vision_encoder``, ``text_encoder``) plus the contrastive
    temperature ``temp`` (kept so checkpoints round-trip; scoring never uses it)."""

    cfg: ViCLIPConfig
    dtype: jnp.dtype = jnp.float32
    attention_impl: str = "auto"
    remat: bool = False

    def setup(self):
        self.vision_encoder = ViCLIPVision(self.cfg, self.dtype, self.attention_impl, self.remat)
        self.text_encoder = ViCLIPText(self.cfg, self.dtype, self.attention_impl)
        self.temp = self.param("temp", nn.initializers.constant(1 / 100.0), ())

    def encode_vision(self, frames):
        return self.vision_encoder(frames)

    def encode_text(self, tokens):
        return self.text_encoder(tokens)

    def __call__(self, frames, tokens):
        return self.encode_vision(frames), self.encode_text(tokens)
