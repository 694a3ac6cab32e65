"""Diffusion math: the noise schedule, embeddings, boundary scalings and samplers."""

from hummingbird_jax.diffusion.samplers import (
    DDIMSchedule,
    DDIMSolverSchedule,
    classifier_free_guidance,
    ddim_sample,
    ddim_solver_schedule,
    ddim_solver_step,
    lcm_sample,
    lcm_step,
    lcm_timesteps,
    vc2_ddim_schedule,
    vc2_ddim_timesteps,
)
from hummingbird_jax.diffusion.schedule import (
    NUM_TRAIN_TIMESTEPS,
    add_noise,
    alphas_cumprod,
    betas,
    boundary_scalings,
    guidance_embedding,
    predicted_x0,
    scale_arr,
    timestep_embedding,
)

__all__ = [
    "DDIMSchedule",
    "DDIMSolverSchedule",
    "NUM_TRAIN_TIMESTEPS",
    "add_noise",
    "alphas_cumprod",
    "betas",
    "boundary_scalings",
    "classifier_free_guidance",
    "ddim_sample",
    "ddim_solver_schedule",
    "ddim_solver_step",
    "guidance_embedding",
    "lcm_sample",
    "lcm_step",
    "lcm_timesteps",
    "predicted_x0",
    "scale_arr",
    "timestep_embedding",
    "vc2_ddim_schedule",
    "vc2_ddim_timesteps",
]
