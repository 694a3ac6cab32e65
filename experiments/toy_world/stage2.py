"""Stage 2 on the toy world: T2V-Turbo consistency distillation of the stage-1 student from the toy
teacher, through the training engine. ``models.student_init`` is the stage-1 checkpoint step.

    hummingbird train experiments/toy_world/stage2.py --workdir OUT/stage2 \\
        --set models.weights=OUT/models --set data.path=OUT/curation/manifest.csv \\
        --set models.student_init=OUT/stage1/checkpoints/STEP

The toy video-text reward (:class:`experiments.toy_world.reward.ToyVideoTextReward`, weight 2.0 on
all 8 frames, as the release weights its video reward) is meant to enter as a ``rewards`` entry with
``kind='experiments.toy_world.reward:ToyVideoTextReward'``, which the engine resolves; until that entry
and its checkpoint are wired in here, this config trains the consistency term alone.
"""

from ml_collections import ConfigDict

from experiments.toy_world.presets import distillation_config


def get_config(variant: str = "default"):
    c = distillation_config("turbo", variant)
    c.models.student_init = ""
    c.optim.update(dict(lr=2e-4, weight_decay=0.0, clip=1.0))
    c.trainable.update(dict(mode="full"))
    c.loss = dict(num_ddim_steps=50, w_min=5.0, w_max=15.0, huber_c=0.001, target="online")
    c.rewards = ConfigDict({})
    return c
