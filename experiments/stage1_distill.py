"""Stage 1: prune VideoCrafter2 to the 0.7B Hummingbird U-Net and distil it from the teacher.

The student starts as the teacher with half the blocks per level and no middle block; it learns
to predict the teacher's classifier-free-guided noise (g = 12) at the same noisy latent and uniform
t. AdamW lr 1e-5, weight decay 0.01, grad clip 0.5, 16 frames at 320×512, frame stride U{1..6}.

    hummingbird train experiments/stage1_distill.py --workdir runs/stage1 \\
        --set models.weights=ckpt/vc2_jax --set data.path=data/webvid_train.csv
    hummingbird train experiments/stage1_distill.py --workdir /tmp/stage1_tiny --variant tiny

``models.weights`` is a converted VideoCrafter2 directory (``hummingbird convert torch-to-jax
model.ckpt --config vc2 --out ckpt/vc2_jax``); ``data.path`` a clip manifest (or precomputed latents
with ``--set data.source=latents``).
"""

from hummingbird_jax.training.config import common, tiny_engine


def get_config(variant: str = "full"):
    c = common("stage1")  # the defaults are this recipe's models (vc2 pruned to hb-0.7b), lr and weight decay
    c.total_steps = 100_000
    c.checkpoint_every = 2_000
    c.optim.clip = 0.5
    if variant == "tiny":
        tiny_engine(c)
        c.optim.clip = 1.0  # the tiny U-Nets at lr 1e-3 train without the release's tighter clip
    elif variant != "full":
        raise ValueError(f"unknown variant {variant!r}; expected full or tiny")
    return c
