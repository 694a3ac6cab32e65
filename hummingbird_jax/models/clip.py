"""OpenCLIP text and vision towers (ViT-H-14 and smaller), as VideoCrafter2 and HPSv2 use them, and the
other pre-norm ViT image towers of the same shape: OpenAI CLIP (QuickGELU) and DINO (eps 1e-6, biased
patch conv, no ``ln_pre`` nor projection, position grid resampled to any input size).

Two consumers, one set of weights layout:

* the U-Net's text context: token + position embedding, the causal text transformer stopped one
  block early (``penultimate``), then ``ln_final`` -> ``(B, 77, width)``; no projection;
* CLIP scores (HPSv2.1 reward): the text tower run to the end, pooled at the EOT token (the largest
  id in each row) and projected; the ViT image tower (class token, ``ln_pre``, ``ln_post``, ``proj``).

Flax submodules carry the PyTorch attribute names (``transformer.resblocks.3``, ``mlp.c_fc``,
``visual``), so conversion (``hummingbird_jax/convert/clip.py``) is a short rule table. Parameters
stay float32; ``dtype`` is the matmul dtype; layer norms and the residual stream stay float32.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from hummingbird_jax.models.attention import dot_product_attention
from hummingbird_jax.models.interpolation import resize_2d

__all__ = [
    "CLIPTextConfig",
    "CLIPVisionConfig",
    "CLIPConfig",
    "CLIPTextEncoder",
    "CLIPVisionEncoder",
    "CLIP",
    "normalize_features",
    "ACTIVATIONS",
]

_LN_EPS = 1e-5  # torch.nn.LayerNorm default, used throughout OpenCLIP and OpenAI CLIP


def _quick_gelu(x):
    """OpenAI CLIP's ``x * sigmoid(1.702 x)``."""
    return x * jax.nn.sigmoid(1.702 * x)


# MLP activations by name: OpenCLIP and DINO use exact (erf) GELU, OpenAI CLIP QuickGELU.
ACTIVATIONS = {"gelu": lambda x: nn.gelu(x, approximate=False), "quick_gelu": _quick_gelu}


@dataclasses.dataclass(frozen=True)
class CLIPTextConfig:
    """Text tower shape. ``embed_dim`` is the projection's output size; ``None`` means "as in the
    checkpoint" when converting (the U-Net context never uses the projection) and ``width`` when
    initialising from scratch."""

    width: int
    heads: int
    layers: int
    context_length: int = 77
    vocab_size: int = 49408
    embed_dim: Optional[int] = None
    mlp_ratio: float = 4.0

    def __post_init__(self):
        if self.width % self.heads:
            raise ValueError(f"CLIPTextConfig: width {self.width} is not divisible by heads {self.heads}")
        if self.layers < 2:
            raise ValueError(f"CLIPTextConfig: the penultimate-layer context needs layers >= 2, got {self.layers}")

    @classmethod
    def vit_h_14(cls) -> "CLIPTextConfig":
        """OpenCLIP ViT-H-14 text tower (VideoCrafter2's ``FrozenOpenCLIPEmbedder``)."""
        return cls(width=1024, heads=16, layers=24, embed_dim=1024)

    @property
    def projection_dim(self) -> int:
        return self.width if self.embed_dim is None else self.embed_dim


@dataclasses.dataclass(frozen=True)
class CLIPVisionConfig:
    """ViT image tower shape (OpenCLIP names the head count via ``head_width = width / heads``).

    The defaults are OpenCLIP's tower; the other fields describe its pre-norm ViT relatives:
    ``activation`` (a key of :data:`ACTIVATIONS`), ``ln_eps``, ``patch_bias`` (conv bias),
    ``ln_pre``, ``projection`` (``False``: the output is the normalised class token, ``width`` wide)
    and ``any_size`` (accept any image of at least one patch, resampling the position grid with
    bicubic interpolation exactly as DINO's ``interpolate_pos_encoding`` does).
    """

    width: int
    layers: int
    heads: int
    patch_size: int
    image_size: int
    mlp_ratio: float = 4.0
    activation: str = "gelu"
    ln_eps: float = _LN_EPS
    patch_bias: bool = False
    ln_pre: bool = True
    projection: bool = True
    any_size: bool = False

    def __post_init__(self):
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"CLIPVisionConfig: activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}")
        if self.width % self.heads:
            raise ValueError(f"CLIPVisionConfig: width {self.width} is not divisible by heads {self.heads}")
        if self.image_size % self.patch_size:
            raise ValueError(
                f"CLIPVisionConfig: image_size {self.image_size} is not a multiple of patch_size {self.patch_size}"
            )

    @classmethod
    def vit_h_14(cls) -> "CLIPVisionConfig":
        return cls(width=1280, layers=32, heads=16, patch_size=14, image_size=224)

    @classmethod
    def openai_vit_b_32(cls) -> "CLIPVisionConfig":
        """OpenAI CLIP ViT-B/32 image tower (``ViT-B-32.pt``; VBench's background consistency)."""
        return cls(width=768, layers=12, heads=12, patch_size=32, image_size=224, activation="quick_gelu")

    @classmethod
    def openai_vit_l_14(cls) -> "CLIPVisionConfig":
        """OpenAI CLIP ViT-L/14 image tower (``ViT-L-14.pt``; VBench's aesthetic quality)."""
        return cls(width=1024, layers=24, heads=16, patch_size=14, image_size=224, activation="quick_gelu")

    @classmethod
    def dino_vit_b_16(cls) -> "CLIPVisionConfig":
        """DINO ViT-B/16 (``dino_vitbase16_pretrain.pth``; VBench's subject consistency)."""
        return cls(width=768, layers=12, heads=12, patch_size=16, image_size=224, ln_eps=1e-6,
                   patch_bias=True, ln_pre=False, projection=False, any_size=True)

    @property
    def grid(self) -> int:
        return self.image_size // self.patch_size


@dataclasses.dataclass(frozen=True)
class CLIPConfig:
    """A whole CLIP: both towers project to ``embed_dim`` (the text config's ``embed_dim`` follows it)."""

    embed_dim: int
    vision: CLIPVisionConfig
    text: CLIPTextConfig

    def __post_init__(self):
        if self.text.embed_dim is None:
            object.__setattr__(self, "text", dataclasses.replace(self.text, embed_dim=self.embed_dim))
        elif self.text.embed_dim != self.embed_dim:
            raise ValueError(
                f"CLIPConfig: text.embed_dim {self.text.embed_dim} differs from embed_dim {self.embed_dim}"
            )

    @classmethod
    def vit_h_14(cls) -> "CLIPConfig":
        """OpenCLIP ViT-H-14 (LAION-2B; HPSv2.1 fine-tunes all of it)."""
        return cls(embed_dim=1024, vision=CLIPVisionConfig.vit_h_14(), text=CLIPTextConfig.vit_h_14())


def normalize_features(x: jax.Array, eps: float = 1e-12) -> jax.Array:
    """Unit L2 norm over the last axis (``F.normalize``), computed in float32."""
    x = x.astype(jnp.float32)
    return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), eps)


class MultiheadAttention(nn.Module):
    """``torch.nn.MultiheadAttention`` (packed ``in_proj`` q|k|v, ``out_proj``) over ``(B, L, W)``."""

    width: int
    heads: int
    causal: bool = False
    dtype: jnp.dtype = jnp.float32
    attention_impl: str = "auto"

    @nn.compact
    def __call__(self, x):
        b, length, _ = x.shape
        qkv = nn.Dense(3 * self.width, dtype=self.dtype, name="in_proj")(x)
        q, k, v = (t.reshape(b, length, self.heads, -1) for t in jnp.split(qkv, 3, axis=-1))
        out = dot_product_attention(q, k, v, causal=self.causal, implementation=self.attention_impl)
        return nn.Dense(self.width, dtype=self.dtype, name="out_proj")(out.reshape(b, length, self.width))


class BlockSettings(nn.Module, kw_only=True):
    """How each transformer block computes (keyword-only fields, shared by a block and its stack)."""

    mlp_ratio: float = 4.0
    causal: bool = False
    dtype: jnp.dtype = jnp.float32
    attention_impl: str = "auto"
    activation: str = "gelu"
    ln_eps: float = _LN_EPS

    def block_settings(self) -> dict:
        return dict(mlp_ratio=self.mlp_ratio, causal=self.causal, dtype=self.dtype,
                    attention_impl=self.attention_impl, activation=self.activation, ln_eps=self.ln_eps)


class ResidualAttentionBlock(BlockSettings):
    """Pre-norm transformer block: ``x + attn(ln_1(x))``, then ``x + c_proj(gelu(c_fc(ln_2(x))))``."""

    width: int
    heads: int

    @nn.compact
    def __call__(self, x):
        h = nn.LayerNorm(epsilon=self.ln_eps, dtype=jnp.float32, name="ln_1")(x)
        h = MultiheadAttention(self.width, self.heads, self.causal, self.dtype, self.attention_impl, name="attn")(
            h.astype(self.dtype)
        )
        x = x + h.astype(x.dtype)
        h = nn.LayerNorm(epsilon=self.ln_eps, dtype=jnp.float32, name="ln_2")(x)
        h = nn.Dense(int(self.width * self.mlp_ratio), dtype=self.dtype, name="mlp.c_fc")(h.astype(self.dtype))
        h = ACTIVATIONS[self.activation](h)
        h = nn.Dense(self.width, dtype=self.dtype, name="mlp.c_proj")(h)
        return x + h.astype(x.dtype)


class Transformer(BlockSettings):
    """A stack of blocks named ``resblocks.{i}``; ``num_blocks`` runs only the first few."""

    width: int
    heads: int
    layers: int
    remat: bool = False  # recompute each block's activations in the backward pass (reward gradients)

    @nn.compact
    def __call__(self, x, num_blocks: Optional[int] = None):
        block = nn.remat(ResidualAttentionBlock) if self.remat else ResidualAttentionBlock
        for i in range(self.layers if num_blocks is None else num_blocks):
            x = block(self.width, self.heads, **self.block_settings(), name=f"resblocks.{i}")(x)
        return x


def _check_tokens(tokens, cfg: CLIPTextConfig):
    if tokens.ndim != 2 or tokens.shape[1] != cfg.context_length:
        raise ValueError(f"text tokens must be (batch, {cfg.context_length}), got shape {tuple(tokens.shape)}")
    if not jnp.issubdtype(tokens.dtype, jnp.integer):
        raise TypeError(f"text tokens must be integers, got {tokens.dtype}")


class CLIPTextEncoder(nn.Module):
    """OpenCLIP text tower. ``apply({'params': p}, tokens)`` -> U-Net context (penultimate + ``ln_final``).

    ``encode_text`` runs every block and returns the pooled, projected embedding (not normalised).
    Initialisation creates every tensor of the PyTorch tower (all blocks, ``text_projection``,
    ``logit_scale``) even though the context skips the last block, so checkpoints round-trip.
    """

    cfg: CLIPTextConfig
    dtype: jnp.dtype = jnp.float32
    attention_impl: str = "auto"

    def setup(self):
        cfg = self.cfg
        self.token_embedding = nn.Embed(
            cfg.vocab_size, cfg.width, embedding_init=nn.initializers.normal(0.02), name="token_embedding"
        )
        self.positional_embedding = self.param(
            "positional_embedding", nn.initializers.normal(0.01), (cfg.context_length, cfg.width)
        )
        self.transformer = Transformer(cfg.width, cfg.heads, cfg.layers, mlp_ratio=cfg.mlp_ratio, causal=True,
                                       dtype=self.dtype, attention_impl=self.attention_impl)
        self.ln_final = nn.LayerNorm(epsilon=_LN_EPS, dtype=jnp.float32)
        if cfg.embed_dim is None and self.has_variable("params", "text_projection"):
            # Size left open: take the stored projection as it is (the context never uses it).
            self.text_projection = self.get_variable("params", "text_projection")
        else:
            self.text_projection = self.param(
                "text_projection", nn.initializers.normal(cfg.width**-0.5), (cfg.width, cfg.projection_dim)
            )
        self.logit_scale = self.param("logit_scale", nn.initializers.constant(math.log(1 / 0.07)), ())

    def _hidden(self, tokens, num_blocks: int):
        _check_tokens(tokens, self.cfg)
        x = self.token_embedding(tokens).astype(jnp.float32) + self.positional_embedding
        return self.transformer(x, num_blocks)

    def __call__(self, tokens):
        """U-Net context ``(B, context_length, width)``: blocks ``0 … layers-2``, then ``ln_final``."""
        if self.is_initializing():
            self.encode_text(tokens)  # create the last block's parameters as well
        return self.ln_final(self._hidden(tokens, self.cfg.layers - 1))

    def encode_text(self, tokens):
        """Pooled text embedding ``(B, embed_dim)``: all blocks, ``ln_final``, the EOT token, projection."""
        x = self.ln_final(self._hidden(tokens, self.cfg.layers))
        eot = jnp.argmax(tokens, axis=-1)  # EOT has the largest id in the vocabulary
        pooled = jnp.take_along_axis(x, eot[:, None, None], axis=1)[:, 0]
        return jnp.dot(pooled.astype(self.dtype), self.text_projection.astype(self.dtype)).astype(jnp.float32)


class CLIPVisionEncoder(nn.Module):
    """Pre-norm ViT image tower (OpenCLIP ``VisionTransformer`` and its relatives, see
    :class:`CLIPVisionConfig`): patchify conv, class token, ``ln_pre``, blocks, ``ln_post`` on the class
    token, ``proj``. Input NHWC, already resized and normalised; output ``(B, embed_dim)``, or
    ``(B, width)`` without projection (``embed_dim`` is then unused)."""

    cfg: CLIPVisionConfig
    embed_dim: Optional[int] = None
    dtype: jnp.dtype = jnp.float32
    attention_impl: str = "auto"

    def _check(self, images):
        cfg = self.cfg
        if cfg.any_size:
            if images.ndim != 4 or images.shape[-1] != 3 or min(images.shape[1:3]) < cfg.patch_size:
                raise ValueError(f"images must be NHWC (batch, H, W, 3) with H, W >= {cfg.patch_size}, "
                                 f"got {tuple(images.shape)}")
            return
        expected = (cfg.image_size, cfg.image_size, 3)
        if images.ndim != 4 or tuple(images.shape[1:]) != expected:
            raise ValueError(f"images must be NHWC (batch, {cfg.image_size}, {cfg.image_size}, 3), got {tuple(images.shape)}")

    def _grid_positions(self, positional, grid_hw: tuple[int, int]):
        """Position table for a ``grid_hw`` patch grid: the stored one, or (DINO) its patch part
        resampled bicubically with DINO's ``+0.1`` scale factors."""
        cfg = self.cfg
        if grid_hw == (cfg.grid, cfg.grid):
            return positional
        n = cfg.grid
        patches = positional[1:].reshape(1, n, n, cfg.width)
        factors = ((grid_hw[0] + 0.1) / n, (grid_hw[1] + 0.1) / n)
        patches = resize_2d(patches, grid_hw, "bicubic", factors).reshape(-1, cfg.width)
        return jnp.concatenate([positional[:1], patches], axis=0)

    @nn.compact
    def __call__(self, images):
        cfg = self.cfg
        self._check(images)
        scale = cfg.width**-0.5
        x = nn.Conv(
            cfg.width, (cfg.patch_size, cfg.patch_size), strides=cfg.patch_size, padding="VALID",
            use_bias=cfg.patch_bias, dtype=self.dtype, name="conv1",
        )(images.astype(self.dtype))
        b, gh, gw = x.shape[:3]
        x = x.reshape(b, gh * gw, cfg.width).astype(jnp.float32)
        class_embedding = self.param("class_embedding", nn.initializers.normal(scale), (cfg.width,))
        positional = self.param(
            "positional_embedding", nn.initializers.normal(scale), (cfg.grid * cfg.grid + 1, cfg.width)
        )
        x = jnp.concatenate([jnp.broadcast_to(class_embedding, (b, 1, cfg.width)), x], axis=1)
        x = x + self._grid_positions(positional, (gh, gw))
        if cfg.ln_pre:
            x = nn.LayerNorm(epsilon=cfg.ln_eps, dtype=jnp.float32, name="ln_pre")(x)
        x = Transformer(cfg.width, cfg.heads, cfg.layers, mlp_ratio=cfg.mlp_ratio, dtype=self.dtype,
                        attention_impl=self.attention_impl, activation=cfg.activation, ln_eps=cfg.ln_eps,
                        name="transformer")(x)
        pooled = nn.LayerNorm(epsilon=cfg.ln_eps, dtype=jnp.float32, name="ln_post")(x[:, 0])
        if not cfg.projection:
            return pooled
        if self.embed_dim is None:
            raise ValueError("CLIPVisionEncoder: a tower with a projection needs embed_dim")
        proj = self.param("proj", nn.initializers.normal(scale), (cfg.width, self.embed_dim))
        return jnp.dot(pooled.astype(self.dtype), proj.astype(self.dtype)).astype(jnp.float32)


class CLIP(nn.Module):
    """OpenCLIP ``CLIP``: ``encode_image`` (NHWC, normalised) and ``encode_text`` (pooled at EOT,
    projected); neither normalises. ``__call__`` returns both, for initialisation."""

    cfg: CLIPConfig
    dtype: jnp.dtype = jnp.float32
    attention_impl: str = "auto"

    def setup(self):
        self.visual = CLIPVisionEncoder(self.cfg.vision, self.cfg.embed_dim, self.dtype, self.attention_impl)
        self.text = CLIPTextEncoder(self.cfg.text, self.dtype, self.attention_impl)

    def encode_image(self, images):
        return self.visual(images)

    def encode_text(self, tokens):
        return self.text.encode_text(tokens)

    def __call__(self, images, tokens):
        return self.encode_image(images), self.encode_text(tokens)
