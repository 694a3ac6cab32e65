"""A small video-text reward, trained contrastively on the curated toy clips (the role InternVideo2
plays in the release): cosine between a video embedding and a caption embedding.

The video tower stacks frames along channels (so motion direction is visible to the first conv);
the text tower embeds OpenCLIP tokens and averages them (the toy captions are templates, so the bag
of words identifies every attribute). Training is symmetric InfoNCE over batches of clips with
distinct captions. It implements :class:`hummingbird_jax.rewards.RewardModel`, so stage 2 can use it
as a differentiable reward on decoded frames.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from hummingbird_jax.models.clip import normalize_features
from hummingbird_jax.rewards.base import RewardModel, check_frames
from hummingbird_jax.text import tokenize
from hummingbird_jax.toy_world import artifacts
from hummingbird_jax.toy_world.fitting import fit
from hummingbird_jax.toy_world.world import CLIP_FRAMES, CLIP_SIZE

CONTEXT_LENGTH = 77
VOCAB_SIZE = 49408


class _VideoText(nn.Module):
    width: int = 32
    embed_dim: int = 32

    def setup(self):
        self.convs = [nn.Conv(f, (3, 3), strides=s, name=f"video_conv{i}")
                      for i, (f, s) in enumerate(((self.width, 1), (2 * self.width, 2), (2 * self.width, 2)))]
        self.norms = [nn.GroupNorm(num_groups=8, name=f"video_norm{i}") for i in range(3)]
        self.video_proj = nn.Dense(self.embed_dim, name="video_proj")
        self.token_embedding = nn.Embed(VOCAB_SIZE, self.width, name="token_embedding")
        self.text_hidden = nn.Dense(2 * self.width, name="text_hidden")
        self.text_proj = nn.Dense(self.embed_dim, name="text_proj")
        self.logit_scale = self.param("logit_scale", lambda _: jnp.asarray(np.log(10.0), jnp.float32))

    def encode_video(self, video):
        """``(B, T, H, W, 3)`` in [-1, 1] → unit embeddings."""
        b, t, h, w, c = video.shape
        x = jnp.transpose(video, (0, 2, 3, 1, 4)).reshape(b, h, w, t * c)
        for conv, norm in zip(self.convs, self.norms):
            x = nn.gelu(norm(conv(x)))
        x = jnp.concatenate([x.mean(axis=(1, 2)), x.max(axis=(1, 2))], axis=-1)
        return normalize_features(self.video_proj(x))

    def encode_text(self, tokens):
        """OpenCLIP tokens ``(B, L)`` → unit embeddings (mean over word tokens: not SOT, EOT or padding)."""
        words = (tokens > 0) & (tokens < 49406)
        e = self.token_embedding(tokens) * words[..., None]
        e = e.sum(1) / jnp.maximum(words.sum(1, keepdims=True), 1)
        return normalize_features(self.text_proj(nn.gelu(self.text_hidden(e))))

    def __call__(self, video, tokens):
        return self.encode_video(video), self.encode_text(tokens), jnp.exp(self.logit_scale)


@dataclasses.dataclass(frozen=True)
class ToyVideoTextReward(RewardModel):
    """Score = cosine(video embedding, caption embedding) ∈ [-1, 1]; frames may be any count ``T``
    the reward was trained with."""

    frames: int = CLIP_FRAMES
    size: tuple[int, int] = CLIP_SIZE
    width: int = 48
    embed_dim: int = 32
    name: str = "toy_video_text"

    @property
    def model(self) -> _VideoText:
        return _VideoText(self.width, self.embed_dim)

    def tokenize(self, prompts: Sequence[str]) -> np.ndarray:
        return np.asarray(tokenize(list(prompts), CONTEXT_LENGTH), np.int32)

    def init_params(self, rng: jax.Array) -> Any:
        video = jnp.zeros((1, self.frames, *self.size, 3), jnp.float32)
        tokens = jnp.zeros((1, CONTEXT_LENGTH), jnp.int32)
        return jax.jit(lambda k: self.model.init(k, video, tokens)["params"])(rng)

    def load_params(self, path: str) -> Any:
        return artifacts.load_params(path)

    def score(self, params: Any, frames: jax.Array, text_tokens: jax.Array) -> jax.Array:
        check_frames(frames, text_tokens)
        if frames.shape[1] != self.frames:
            raise ValueError(f"{self.name} was built for {self.frames} frames, got {frames.shape[1]}")
        v, t, _ = self.model.apply({"params": params}, frames.astype(jnp.float32) * 2.0 - 1.0, text_tokens)
        return jnp.sum(v * t, axis=-1).astype(jnp.float32)


@dataclasses.dataclass(frozen=True)
class RewardTrainConfig:
    steps: int = 1000
    batch_size: int = 32
    lr: float = 2e-3
    seed: int = 3


def _infonce(params, model, videos, tokens):
    v, t, scale = model.apply({"params": params}, videos, tokens)
    logits = scale * v @ t.T
    labels = jnp.arange(v.shape[0])
    return 0.5 * (optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
                  + optax.softmax_cross_entropy_with_integer_labels(logits.T, labels).mean())


def _distinct_caption_batch(rng: np.random.Generator, captions: np.ndarray, size: int) -> np.ndarray:
    """Indices of up to ``size`` clips with pairwise different captions (no false negatives)."""
    unique = np.unique(captions)
    chosen = rng.choice(unique, min(size, len(unique)), replace=False)
    return np.array([rng.choice(np.flatnonzero(captions == c)) for c in chosen])


def train_reward(videos: np.ndarray, captions: Sequence[str], reward: ToyVideoTextReward = ToyVideoTextReward(),
                 cfg: RewardTrainConfig = RewardTrainConfig(), progress: bool = True):
    """``videos (N, T, H, W, 3)`` in [-1, 1] with their captions → ``(params, loss history)``."""
    captions = np.asarray(list(captions))
    tokens = reward.tokenize(list(captions))
    model = reward.model
    order = np.random.default_rng(cfg.seed)

    def batch_at(_):
        idx = _distinct_caption_batch(order, captions, cfg.batch_size)
        return videos[idx], tokens[idx]

    def loss(params, batch, key):
        clips, clip_tokens = batch
        return _infonce(params, model, clips + 0.05 * jax.random.normal(key, clips.shape), clip_tokens)

    optimizer = optax.adamw(optax.cosine_decay_schedule(cfg.lr, cfg.steps), weight_decay=1e-4)
    return fit(loss, reward.init_params(jax.random.key(cfg.seed)), optimizer, batch_at, cfg.steps, seed=cfg.seed,
               desc="reward", progress=progress)


def retrieval_accuracy(reward: ToyVideoTextReward, params, videos: np.ndarray, captions: Sequence[str],
                       candidates: Sequence[str]) -> float:
    """Fraction of videos whose own caption scores highest among all ``candidates``."""
    model = reward.model
    cand = list(candidates)
    t = model.apply({"params": params}, jnp.asarray(reward.tokenize(cand)), method=_VideoText.encode_text)
    v = jax.jit(lambda p, x: model.apply({"params": p}, x, method=_VideoText.encode_video))(params, jnp.asarray(videos))
    best = np.argmax(np.asarray(v @ t.T), axis=1)
    return float(np.mean([cand[b] == c for b, c in zip(best, captions)]))
