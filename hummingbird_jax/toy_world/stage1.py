"""Stage 1 on the toy world: prune the toy teacher (2 res blocks per level + middle block) to the toy
student (1 res block, no middle block) and distil it from the teacher's CFG output, through the
training engine. ``models.weights`` is the converted directory the teacher phase writes.

    hummingbird train hummingbird_jax/toy_world/stage1.py --workdir OUT/stage1 \\
        --set models.weights=OUT/models --set data.path=OUT/curation/manifest.csv
"""

from hummingbird_jax.toy_world.presets import GUIDANCE, STAGE1_STEPS, distillation_config


def get_config(variant: str = "default"):
    c = distillation_config("stage1", variant, STAGE1_STEPS)
    c.optim.update(dict(lr=1e-3, clip=0.5))
    c.loss.guidance_scale = GUIDANCE
    return c
