"""Stage 2 on the toy world: T2V-Turbo consistency distillation of the stage-1 student from the toy
teacher, through the training engine. ``models.student_init`` is the stage-1 checkpoint step.

    hummingbird train experiments/toy_world/stage2.py --workdir OUT/stage2 \\
        --set models.weights=OUT/models --set data.path=OUT/curation/manifest.csv \\
        --set models.student_init=OUT/stage1/checkpoints/STEP

The toy video-text reward (:class:`experiments.toy_world.reward.ToyVideoTextReward`, weight 2.0 on
all 8 frames, as the release weights its video reward) enters as a ``rewards`` entry once the engine
resolves reward kinds beyond ``hpsv2``; until then this config trains the consistency term alone.
"""

from ml_collections import ConfigDict

from hummingbird_jax.training.config import common


def get_config(variant: str = "default"):
    c = common("turbo")
    steps = {"smoke": 2, "default": 200, "full": 1000}
    if variant not in steps:
        raise ValueError(f"unknown variant {variant!r}; expected one of {sorted(steps)}")
    c.total_steps, c.checkpoint_every, c.log_every = steps[variant], 50, 1
    c.async_checkpoints = False
    c.models.update(dict(teacher="tiny-teacher", student="tiny-student", vae="tiny", text="tiny", weights="",
                         student_init=""))
    c.precision.update(dict(compute="float32", frozen="float32", remat="none"))
    c.data.update(dict(source="clips", path="", batch_size=2 if variant == "smoke" else 8, frames=8, size=(32, 32),
                       max_stride=1, latent_size=(16, 16), num_workers=0))
    c.optim.update(dict(lr=2e-4, weight_decay=0.0, clip=1.0))
    c.trainable.update(dict(mode="full"))
    c.loss = dict(num_ddim_steps=50, w_min=5.0, w_max=15.0, huber_c=0.001, target="online")
    c.rewards = ConfigDict({})
    c.sample_prompts = []
    return c
