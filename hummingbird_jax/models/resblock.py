"""Convolutional parts of the VideoCrafter2 U-Net: ResBlock with its temporal convolutions, and the
down/up-sampling layers. Video is ``(b, t, h, w, c)``; 2-D layers run per frame on ``(b·t, h, w, c)``.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from hummingbird_jax.models.layers import GroupNorm, Layer, RegularisedLayer, conv, dense

# The official ResBlock builds its temporal convolutions with dropout 0.1, whatever the U-Net's dropout.
TEMPORAL_CONV_DROPOUT = 0.1


def per_frame(fn, x):
    """Apply a 2-D ``fn`` to every frame of ``x (b, t, h, w, c)``."""
    b, t = x.shape[:2]
    y = fn(x.reshape(b * t, *x.shape[2:]))
    return y.reshape(b, t, *y.shape[1:])


def frame_norm(norm: GroupNorm, x):
    """GroupNorm with statistics per frame."""
    b, t, h, w, c = x.shape
    return norm(x.reshape(b * t, h * w, c)).reshape(x.shape)


class TemporalConvBlock(RegularisedLayer):
    """``x + conv4(conv3(conv2(conv1(x))))``; each conv is GN → SiLU → (Dropout) → Conv3d (3,1,1).

    GroupNorm statistics span all frames of a clip. The official module names its instances
    ``temopral_conv`` (sic); checkpoints keep that spelling and so do we.
    """

    channels: int
    norm_groups: int = 32

    @nn.compact
    def __call__(self, x):
        b, t, h, w, c = x.shape
        y = x
        for i in range(1, 5):
            conv_index = 2 if i == 1 else 3  # conv1 has no Dropout slot in its Sequential
            y = GroupNorm(self.norm_groups, epsilon=1e-5, param_dtype=self.param_dtype,
                          name=f"conv{i}.0")(y.reshape(b, t * h * w, c))
            y = nn.silu(y.reshape(x.shape))
            if i > 1:
                y = nn.Dropout(self.dropout, deterministic=self.deterministic)(y)
            y = conv(self.channels, (3, 1, 1), f"conv{i}.{conv_index}", **self.dtypes())(y)
        return x + y


class ResBlock(RegularisedLayer):
    """GN → SiLU → conv3×3, + Linear(SiLU(emb)), GN → SiLU → Dropout → conv3×3, + skip, then the
    temporal conv block."""

    out_channels: int
    temporal_conv: bool = True
    norm_groups: int = 32

    @nn.compact
    def __call__(self, x, emb):
        kw = self.dtypes()
        out = self.out_channels
        h = frame_norm(GroupNorm(self.norm_groups, param_dtype=self.param_dtype, name="in_layers.0"), x)
        h = per_frame(conv(out, (3, 3), "in_layers.2", **kw), nn.silu(h))
        emb_out = dense(out, "emb_layers.1", **kw)(nn.silu(emb))
        h = h + emb_out[:, None, None, None, :].astype(h.dtype)
        h = frame_norm(GroupNorm(self.norm_groups, param_dtype=self.param_dtype, name="out_layers.0"), h)
        h = nn.Dropout(self.dropout, deterministic=self.deterministic)(nn.silu(h))
        h = per_frame(conv(out, (3, 3), "out_layers.3", **kw), h)
        skip = x if x.shape[-1] == out else per_frame(conv(out, (1, 1), "skip_connection", **kw), x)
        h = skip + h
        if self.temporal_conv:
            h = TemporalConvBlock(out, norm_groups=self.norm_groups, dropout=TEMPORAL_CONV_DROPOUT,
                                  deterministic=self.deterministic, name="temopral_conv", **kw)(h)
        return h


class Downsample(Layer):
    """Conv3×3, stride 2, symmetric padding 1 (PyTorch's, not XLA's 'SAME')."""

    channels: int

    @nn.compact
    def __call__(self, x):
        op = conv(self.channels, (3, 3), "op", strides=2, padding=((1, 1), (1, 1)), **self.dtypes())
        return per_frame(op, x)


class Upsample(Layer):
    """Nearest-neighbour ×2, then conv3×3."""

    channels: int

    @nn.compact
    def __call__(self, x):
        x = jnp.repeat(jnp.repeat(x, 2, axis=2), 2, axis=3)
        return per_frame(conv(self.channels, (3, 3), "conv", **self.dtypes()), x)
