"""Stage 2 on the toy world: T2V-Turbo consistency distillation of the stage-1 student from the toy
teacher, with the toy video-text reward as the differentiable reward feedback, through the training
engine. ``models.student_init`` is the stage-1 checkpoint step; ``rewards.video_text.checkpoint`` the
reward phase's params.

    hummingbird train hummingbird_jax/toy_world/stage2.py --workdir OUT/stage2 \\
        --set models.weights=OUT/models --set data.path=OUT/curation/manifest.csv \\
        --set models.student_init=OUT/stage1/checkpoints/STEP \\
        --set rewards.video_text.checkpoint=OUT/reward/params.msgpack

The reward (:class:`hummingbird_jax.toy_world.reward.ToyVideoTextReward`) scores every decoded frame
(``CLIP_FRAMES`` of them) of the student's 2-step sample from noise against the caption
(``loss.reward_rollout_steps``); the engine resolves it by import path.
"""

from ml_collections import ConfigDict

from hummingbird_jax.toy_world.presets import GUIDANCE, STAGE2_STEPS, distillation_config

REWARD_KIND = "hummingbird_jax.toy_world.reward:ToyVideoTextReward"


def get_config(variant: str = "default"):
    c = distillation_config("stage2", variant, STAGE2_STEPS)
    c.models.student_init = ""
    c.optim.update(dict(lr=2e-4, weight_decay=0.0))
    # The reward judges 2-step samples from noise: on the one-step outputs near the data (the release's
    # choice) it has too little to say to lift the 4-step student above stage 1.
    c.loss.update(dict(w_min=GUIDANCE - 1.0, w_max=GUIDANCE + 1.0, reward_rollout_steps=2))
    c.rewards = ConfigDict({"video_text": dict(kind=REWARD_KIND, size="", checkpoint="", weight=1.0, frames=8,
                                               mode="strided", remat=False)})
    return c
