"""Stage 1 on the toy world: prune the toy teacher (2 res blocks per level + middle block) to the toy
student (1 res block, no middle block) and distil it from the teacher's CFG output, through the
training engine. ``models.weights`` is the converted directory the teacher phase writes.

    hummingbird train experiments/toy_world/stage1.py --workdir OUT/stage1 \\
        --set models.weights=OUT/models --set data.path=OUT/curation/manifest.csv
"""

from hummingbird_jax.training.config import common


def get_config(variant: str = "default"):
    c = common("distill")
    steps = {"smoke": 2, "default": 200, "full": 1000}
    if variant not in steps:
        raise ValueError(f"unknown variant {variant!r}; expected one of {sorted(steps)}")
    c.total_steps, c.checkpoint_every, c.log_every = steps[variant], 50, 1
    c.async_checkpoints = False
    c.models.update(dict(teacher="tiny-teacher", student="tiny-student", vae="tiny", text="tiny", weights="",
                         student_init="prune"))
    c.precision.update(dict(compute="float32", frozen="float32", remat="none"))
    c.data.update(dict(source="clips", path="", batch_size=2 if variant == "smoke" else 8, frames=8, size=(32, 32),
                       max_stride=1, latent_size=(16, 16), num_workers=0))
    c.optim.update(dict(lr=5e-4, weight_decay=0.01, clip=0.5))
    c.loss = dict(guidance_scale=7.5, use_scale_arr=False)
    c.sample_prompts = []
    return c
