"""Stage 2: consistency distillation with reward feedback (T2V-Turbo recipe) into a 4-step student.

The stage-1 student learns, from the frozen VideoCrafter2 teacher, to jump along the teacher's
50-step DDIM ODE (skip 20) in one step, with the guidance scale w ~ U[5, 15] fed through its guidance
embedding; its one-step sample is decoded by the frozen VAE and scored, as the release
(``train_07B.sh``) does, by HPSv2.1 on 5 random frames (weight 1.0) and by InternVideo2-Stage2-1B on 8
frames strided over the clip from a random start (weight 2.0, random 224² crop). LoRA r = 64 on every
Dense/Conv kernel, AdamW lr 1e-4, grad clip 1.0, bf16 compute, rematerialised U-Net and reward towers.

    hummingbird train experiments/stage2_turbo.py --workdir runs/stage2 \\
        --set models.weights=ckpt/vc2_jax --set models.student_init=runs/stage1/checkpoints/100000 \\
        --set data.path=data/webvid_train.csv --set rewards.hps.checkpoint=ckpt/HPS_v2.1_compressed.pt \\
        --set rewards.video.checkpoint=ckpt/InternVideo2-stage2_1b-224p-f4.pt \\
        --set rewards.video.vocab=ckpt/bert-large-uncased/vocab.txt
    hummingbird train experiments/stage2_turbo.py --workdir /tmp/stage2_tiny --variant tiny

T2V-Turbo v1's video reward instead: ``--set rewards.video.kind=viclip --set rewards.video.size=vit-l14
--set rewards.video.checkpoint=ckpt/ViClip-InternVid-10M-FLT.pth``. Any other
:class:`hummingbird_jax.rewards.RewardModel` enters as another ``rewards`` entry.
"""

from ml_collections import ConfigDict

from hummingbird_jax.training.config import common, tiny_engine


def get_config(variant: str = "full"):
    c = common("stage2")  # the defaults are this recipe's teacher and student, batch 8, clip 1, LoRA r = 64
    c.total_steps = 10_000
    c.checkpoint_every = 500
    c.models.student_init = ""  # set to the stage-1 checkpoint
    c.optim.update(dict(lr=1e-4, weight_decay=0.0))
    c.trainable.mode = "lora"
    c.rewards = ConfigDict({
        "hps": dict(kind="hpsv2", size="vit-h-14", checkpoint="", weight=1.0, frames=5, mode="random", remat=True),
        # vocab: bert-large-uncased's vocab.txt (InternVideo2's WordPiece prompts); empty for ViCLIP.
        "video": dict(kind="internvideo2", size="stage2-1b", checkpoint="", vocab="", weight=2.0, frames=8,
                      mode="strided", remat=True),
    })
    if variant == "tiny":
        tiny_engine(c)
        c.models.student_init = "prune"  # no stage-1 checkpoint: the teacher's pruned copy
        c.trainable.update(dict(lora_rank=4, lora_alpha=4.0))
        c.rewards.hps.update(dict(size="tiny", checkpoint="random", frames=2, remat=False))
        c.rewards.video.update(dict(size="tiny", checkpoint="random", frames=2, remat=False))
    elif variant != "full":
        raise ValueError(f"unknown variant {variant!r}; expected full or tiny")
    return c
