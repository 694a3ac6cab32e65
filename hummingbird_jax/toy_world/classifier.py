"""The judge: a small conv net that reads shape, colour, motion direction and background off pixels.

It is trained on its own freshly rendered clips (never the training set, never the reward model) and
checked on the curated mp4 clips, so "semantic accuracy" of a generated video means: this
independent classifier sees what the prompt asked for. Frames are jittered with noise and blur in
training so generated (softer) videos are judged on content, not on codec-exact pixels.
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from hummingbird_jax.toy_world.clips import LABEL_CLASSES, label_indices, rendered_clips
from hummingbird_jax.toy_world.fitting import fit
from hummingbird_jax.toy_world.world import ClipShape, all_specs


class VideoClassifier(nn.Module):
    """``(B, T, H, W, 3)`` in [-1, 1] → ``{label: logits}`` for every label of the world.

    Frames are stacked along channels (``T·3`` input channels), so the first 2-D conv already sees
    where each colour is in every frame: direction of motion is a spatial pattern across channels.
    (2-D convs are several times faster than 3-D ones on XLA's CPU backend.)
    """

    width: int = 32

    @nn.compact
    def __call__(self, x):
        b, t, hgt, wid, c = x.shape
        h = jnp.transpose(x, (0, 2, 3, 1, 4)).reshape(b, hgt, wid, t * c)
        for i, (features, stride) in enumerate(((self.width, 1), (2 * self.width, 2), (2 * self.width, 2))):
            h = nn.Conv(features, (3, 3), strides=stride, name=f"conv{i}")(h)
            h = nn.gelu(nn.GroupNorm(num_groups=8, name=f"norm{i}")(h))
        h = jnp.concatenate([h.mean(axis=(1, 2)), h.max(axis=(1, 2))], axis=-1)
        h = nn.gelu(nn.Dense(4 * self.width, name="hidden")(h))
        return {name: nn.Dense(len(classes), name=f"head_{name}")(h) for name, classes in LABEL_CLASSES.items()}


@dataclasses.dataclass(frozen=True)
class ClassifierConfig(ClipShape):
    renders_per_caption: int = 6
    steps: int = 600
    batch_size: int = 32
    lr: float = 2e-3
    seed: int = 10_000  # rendering seeds far from the training world's


def _augment(rng, videos):
    k_noise, k_blur = jax.random.split(rng)
    noisy = videos + 0.08 * jax.random.normal(k_noise, videos.shape)
    blurred = (noisy + jnp.roll(noisy, 1, 2) + jnp.roll(noisy, 1, 3) + jnp.roll(noisy, (1, 1), (2, 3))) / 4
    pick = jax.random.bernoulli(k_blur, 0.5, (videos.shape[0], 1, 1, 1, 1))
    return jnp.where(pick, blurred, noisy)


def _loss(params, model, videos, labels):
    logits = model.apply({"params": params}, videos)
    return sum(optax.softmax_cross_entropy_with_integer_labels(logits[k], labels[k]).mean() for k in logits)


def train_classifier(cfg: ClassifierConfig = ClassifierConfig(), progress: bool = True):
    """Returns ``(params, history)``; the clips are rendered here from ``cfg.seed``."""
    specs = all_specs() * cfg.renders_per_caption
    videos = rendered_clips(specs, size=cfg.size, frames=cfg.frames, seed=cfg.seed)
    labels = label_indices(specs)
    model = VideoClassifier()
    params = jax.jit(model.init)(jax.random.key(cfg.seed), jnp.zeros((1, cfg.frames, *cfg.size, 3)))["params"]
    order = np.random.default_rng(cfg.seed)

    def batch_at(_):
        idx = order.choice(len(specs), cfg.batch_size, replace=False)
        return videos[idx], {k: v[idx] for k, v in labels.items()}

    def loss(params, batch, key):
        videos, labels = batch
        return _loss(params, model, _augment(key, videos), labels)

    optimizer = optax.adamw(optax.cosine_decay_schedule(cfg.lr, cfg.steps), weight_decay=1e-4)
    return fit(loss, params, optimizer, batch_at, cfg.steps, seed=cfg.seed, desc="classifier", progress=progress)


@jax.jit
def _predict(params, videos):  # one compiled program per batch shape, shared by every model judged
    return {k: jnp.argmax(logits, -1) for k, logits in VideoClassifier().apply({"params": params}, videos).items()}


def predict(params, videos, batch_size: int = 64) -> dict[str, np.ndarray]:
    """Predicted class indices per label for ``(N, T, H, W, 3)`` videos in [-1, 1]."""
    parts = [_predict(params, jnp.asarray(videos[i:i + batch_size])) for i in range(0, len(videos), batch_size)]
    return {k: np.concatenate([np.asarray(p[k]) for p in parts]) for k in LABEL_CLASSES}


# What a prompt asks for; the background is judged too but left out of the semantic scores.
SEMANTIC_LABELS = ("shape", "colour", "motion")


def chance_scores() -> dict[str, float]:
    """``semantic``, ``all`` and each label's accuracy of a judge that guesses each label uniformly: the
    floor of the tables."""
    sizes = [len(LABEL_CLASSES[k]) for k in SEMANTIC_LABELS]
    return {"semantic": float(np.mean([1 / n for n in sizes])), "all": float(1 / np.prod(sizes)),
            **{k: 1 / len(LABEL_CLASSES[k]) for k in SEMANTIC_LABELS}}


def accuracy(params, videos, specs) -> dict[str, float]:
    """The judge's :func:`label_scores` on ``videos`` generated for ``specs``."""
    return label_scores(predict(params, videos), label_indices(specs))


def label_scores(pred: dict[str, np.ndarray], true: dict[str, np.ndarray]) -> dict[str, float]:
    """Per-label accuracy, ``all`` (shape, colour and motion all right), ``semantic`` (the mean of the
    three per-label accuracies: the demo's semantic accuracy) and ``semantic_se`` (its standard error
    over videos).

    ``semantic`` averages per dimension, as VBench-style suites do. ``all`` has a chance level of 1/60
    and moves in steps of one prompt, so on tens of prompts two models' ``all`` rarely differ by more
    than noise; the mean has about a third of the variance and credits a sample that gets two of three
    right."""
    right = np.stack([pred[k] == true[k] for k in SEMANTIC_LABELS])  # (3, videos)
    out = {k: float(np.mean(pred[k] == true[k])) for k in LABEL_CLASSES}
    out["all"] = float(np.mean(right.all(axis=0)))
    per_video = right.mean(axis=0)
    out["semantic"] = float(per_video.mean())
    out["semantic_se"] = float(per_video.std(ddof=1) / np.sqrt(len(per_video))) if len(per_video) > 1 else 0.0
    return out
