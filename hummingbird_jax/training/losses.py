"""Training losses of the two Hummingbird stages, as pure functions of pytrees.

Every loss has the signature ``loss(trainable, frozen, batch, rng, *, models, settings) ->
(loss, aux)`` with ``aux = {'metrics': {name: scalar}, ...}``. ``trainable`` is what the optimizer
updates (see :mod:`hummingbird_jax.training.trainable`); ``frozen`` holds everything that must never
receive a gradient (``student_base``, ``teacher``, ``vae``, ``text``, ``uncond``, ``rewards``, and
the EMA ``target`` when one is used) and is wrapped in ``stop_gradient`` on entry. Random draws come
from ``rng``, split here. The arithmetic of the losses runs in float32 whatever dtype the networks
compute in.

* The teacher (:func:`denoising_loss`): the plain diffusion loss in the U-Net's own parameterization
  (eps or v), with captions dropped for classifier-free guidance.
* Stage 1 (:func:`distill_loss`): the pruned student regresses the teacher's classifier-free-guided
  noise prediction at the same noisy latent.
* Stage 2 (:func:`consistency_loss`): T2V-Turbo's latent consistency distillation over a 50-step DDIM
  solver, plus reward terms on the student's one-step sample (:func:`reward_terms`).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect

import jax
import jax.numpy as jnp

from hummingbird_jax.diffusion.samplers import (
    SOLVER_DDIM_STEPS,
    VC2_GUIDANCE_SCALE,
    classifier_free_guidance,
    ddim_solver_schedule,
    ddim_solver_step,
)
from hummingbird_jax.diffusion.sampling import SamplerSpec, make_sampler, unet_eps
from hummingbird_jax.diffusion.schedule import (
    NUM_TRAIN_TIMESTEPS,
    add_noise,
    alphas_cumprod,
    boundary_scalings,
    predicted_x0,
    scale_arr,
    take_per_sample,
    velocity,
)
from hummingbird_jax.models.clip import CLIPTextEncoder
from hummingbird_jax.models.embeddings import guidance_embedding
from hummingbird_jax.models.unet3d import UNet3D
from hummingbird_jax.models.vae import decode_video_latents, encode_video_latents
from hummingbird_jax.registry import GUIDANCE_EMBED_DIM
from hummingbird_jax.training.models import ModelSet
from hummingbird_jax.training.trainable import TrainableSpec, student_params


@dataclasses.dataclass(frozen=True)
class DistillSettings:
    """Stage 1: CFG scale of the teacher target; VC2's ``scale_arr`` signal rescale (off by default:
    the released stage-1 code noises the plain latent)."""

    guidance_scale: float = VC2_GUIDANCE_SCALE
    use_scale_arr: bool = False


@dataclasses.dataclass(frozen=True)
class ConsistencySettings:
    """Stage 2 (T2V-Turbo): solver grid, guidance range, Huber constant, target kind."""

    num_ddim_steps: int = SOLVER_DDIM_STEPS
    w_min: float = 5.0
    w_max: float = 15.0
    huber_c: float = 0.001
    target: str = "online"  # "online": stop-gradient of the current student; "ema": the EMA copy
    # What the rewards score. 0: the online one-step output at the solver's t_n (T2V-Turbo; near the data
    # for small t_n, where the reward has little to say). k >= 1: a k-step LCM sample that the student
    # draws from fresh noise at the batch's w, differentiated through all k steps: the reward then judges
    # what the sampler will deliver, at k student forwards more per step.
    reward_rollout_steps: int = 0

    def __post_init__(self):
        if self.target not in ("online", "ema"):
            raise ValueError(f"loss.target = {self.target!r}; expected online or ema")
        if not 0 <= self.w_min <= self.w_max:
            raise ValueError(f"loss.w_min/w_max = {self.w_min}/{self.w_max}; expected 0 <= w_min <= w_max")
        if self.reward_rollout_steps < 0:
            raise ValueError(f"loss.reward_rollout_steps = {self.reward_rollout_steps}; expected >= 0")


# The settings class of each stage's loss; its fields are the config's ``loss`` keys, its defaults theirs.
STAGE_SETTINGS = {"stage1": DistillSettings, "stage2": ConsistencySettings}


# ---- shared pieces --------------------------------------------------------------------------------


def pseudo_huber(a, b, c: float):
    """``mean(√((a−b)² + c²) − c)``: L2 near zero, L1 for large errors (T2V-Turbo, c = 0.001)."""
    d = (a.astype(jnp.float32) - b.astype(jnp.float32))
    return jnp.mean(jnp.sqrt(d * d + c * c) - c)


def conditioning(frozen, batch, models: ModelSet, rng):
    """``(x0 latents, context, uncond context, fps)`` of a batch.

    Latents come precomputed (``latents``) or are encoded from ``video`` in [-1, 1] by the frozen
    VAE (a posterior sample, as VideoCrafter trains); the context comes precomputed (``context``) or
    from the frozen text encoder on ``tokens``.
    """
    if "latents" in batch:
        x0 = batch["latents"].astype(jnp.float32)
    else:
        x0 = encode_video_latents(frozen["vae"], batch["video"], models.vae, rng=rng).astype(jnp.float32)
    if "context" in batch:
        context = batch["context"]
    else:
        context = CLIPTextEncoder(models.text, dtype=models.compute_dtype).apply({"params": frozen["text"]},
                                                                                 batch["tokens"])
    context = context.astype(models.compute_dtype)
    uncond = jnp.broadcast_to(frozen["uncond"].astype(context.dtype), context.shape)
    fps = jnp.broadcast_to(jnp.asarray(batch["fps"]), (x0.shape[0],))
    return x0, context, uncond, fps


def teacher_cond_uncond(models: ModelSet, frozen, x, t, context, uncond, fps):
    """Teacher eps for the prompt and for ``""`` in one batched call → ``(eps_cond, eps_uncond)``."""
    b = x.shape[0]
    both = unet_eps(models.teacher, frozen["teacher"], jnp.concatenate([x, x]), jnp.concatenate([t, t]),
                    jnp.concatenate([context, uncond]), jnp.concatenate([fps, fps]))
    return both[:b], both[b:]


def output_space_weight(cfg, t, ndim: int):
    """Per-sample factor that turns an eps-space squared error into the U-Net's own output space:
    1 for eps, ``1/ᾱ_t`` for v (at a fixed ``x_t``, ``v − v' = (eps − eps')/√ᾱ_t``). In v space the
    noisiest steps, where a clip's layout and motion are decided, keep their weight; in eps space
    they carry almost none (``√ᾱ_999`` ≈ 0.07)."""
    if cfg.parameterization == "v":
        return 1.0 / take_per_sample(alphas_cumprod(), t, ndim)
    return jnp.ones((), jnp.float32)


# ---- the teacher ----------------------------------------------------------------------------------


def denoising_loss(params, cfg, batch, rng, uncond, *, uncond_prob: float = 0.1, min_snr_gamma: float = 0.0,
                   noise_offset: float = 0.0):
    """MSE between the U-Net's output and its target (the noise for ``eps``, ``v`` for ``v``) at
    ``t ~ U{0..999}``, with captions dropped to ``uncond`` with probability ``uncond_prob``.

    ``batch``: ``latents (b, T, h, w, c)``, ``context (b, L, D)``, ``fps (b,)``. ``min_snr_gamma`` > 0
    weights each sample by Min-SNR-γ (Hang et al. 2023): ``min(SNR, γ)/SNR`` for eps and
    ``min(SNR, γ)/(SNR + 1)`` for v, the same weight on the x0 error either way. It mutes the nearly
    clean steps, and with them the noisy ones too, since both forms tend to SNR·|x0 error|² there: a
    temporal model trained so never learns which frame holds what (400-step probes of the engine's motion
    test: eps + Min-SNR moves 28 % of sampled clips the captioned way, plain v 100 %).

    ``noise_offset`` adds a per-clip, per-channel constant of that standard deviation to the noise
    ("offset noise"). VC2's schedule leaves √ᾱ ≈ 0.07 of the clip at t = 999, and averaged over a
    clip's latents that is enough to read a plain background's brightness off pure noise: the U-Net
    learns to take it from the noise instead of the caption. The offset hides that channel mean."""
    k_t, k_noise, k_drop, k_offset = jax.random.split(rng, 4)
    x0 = batch["latents"].astype(jnp.float32)
    b = x0.shape[0]
    t = jax.random.randint(k_t, (b,), 0, NUM_TRAIN_TIMESTEPS)
    noise = jax.random.normal(k_noise, x0.shape, jnp.float32)
    offset_shape = (b,) + (1,) * (x0.ndim - 2) + (x0.shape[-1],)
    noise = noise + noise_offset * jax.random.normal(k_offset, offset_shape, jnp.float32)
    drop = jax.random.bernoulli(k_drop, uncond_prob, (b, 1, 1))
    context = jnp.where(drop, uncond[None], batch["context"])
    x_t = add_noise(x0, noise, t)
    out = UNet3D(cfg).apply({"params": params}, x_t, t, context, fps=batch["fps"]).astype(jnp.float32)
    target = velocity(x0, noise, t) if cfg.parameterization == "v" else noise
    per_sample = jnp.mean(jnp.square(out - target), axis=tuple(range(1, x0.ndim)))
    if min_snr_gamma > 0:
        a = take_per_sample(alphas_cumprod(), t, 1)
        snr = a / (1.0 - a)
        per_sample = per_sample * jnp.minimum(snr, min_snr_gamma) / (snr + 1.0 if cfg.parameterization == "v" else snr)
    return jnp.mean(per_sample)


# ---- stage 1 --------------------------------------------------------------------------------------


def distill_loss(trainable, frozen, batch, rng, *, models: ModelSet, trainable_spec: TrainableSpec,
                 settings: DistillSettings):
    """MSE between the student's eps and ``uncond + g·(cond − uncond)`` of the teacher, t ~ U{0..999},
    measured in the student's output space (:func:`output_space_weight`)."""
    frozen = jax.lax.stop_gradient(frozen)
    k_enc, k_t, k_noise, k_drop = jax.random.split(rng, 4)
    x0, context, uncond, fps = conditioning(frozen, batch, models, k_enc)
    b = x0.shape[0]
    t = jax.random.randint(k_t, (b,), 0, NUM_TRAIN_TIMESTEPS)
    if settings.use_scale_arr:
        x0 = x0 * take_per_sample(scale_arr(), t, x0.ndim)
    noise = jax.random.normal(k_noise, x0.shape, jnp.float32)
    x_t = add_noise(x0, noise, t)
    eps_c, eps_u = teacher_cond_uncond(models, frozen, x_t, t, context, uncond, fps)
    target = jax.lax.stop_gradient(classifier_free_guidance(eps_c, eps_u, settings.guidance_scale))
    params = student_params(trainable, frozen["student_base"], trainable_spec)
    eps = unet_eps(models.student, params, x_t, t, context, fps, dropout_rng=k_drop)
    loss = jnp.mean(jnp.square(eps - target) * output_space_weight(models.student, t, x0.ndim))
    return loss, {"metrics": {"loss/distill": loss, "teacher/target_rms": jnp.sqrt(jnp.mean(target**2))}}


# ---- stage 2 --------------------------------------------------------------------------------------


def consistency_loss(trainable, frozen, batch, rng, *, models: ModelSet, trainable_spec: TrainableSpec,
                     settings: ConsistencySettings):
    """T2V-Turbo's consistency distillation and reward feedback.

    Solver index ``i ~ U{0..N−1}``, ``t_n = (i+1)·k − 1``; ``w ~ U[w_min, w_max]`` enters the student
    through the guidance embedding. The teacher steps ``x_{t_n}`` to ``t_{n−k}`` by one DDIM (eta 0)
    jump with LCM-form guidance on both x0 and eps. The online output
    ``c_skip(t_n)·x + c_out(t_n)·x0`` is pulled (pseudo-Huber) towards the stop-gradient target network
    at ``(x_{t_{n−k}}, t_{n−k})``. The rewards score the online output, or with
    ``reward_rollout_steps`` a short sample from noise (:func:`student_rollout`).
    """
    frozen = jax.lax.stop_gradient(frozen)
    k_enc, k_i, k_w, k_noise, k_drop, k_reward = jax.random.split(rng, 6)
    x0, context, uncond, fps = conditioning(frozen, batch, models, k_enc)
    b, nd = x0.shape[0], x0.ndim
    sched = ddim_solver_schedule(settings.num_ddim_steps)
    index = jax.random.randint(k_i, (b,), 0, settings.num_ddim_steps)
    t_n = jnp.asarray(sched.timesteps)[index]
    t_prev = jnp.asarray(sched.prev_timesteps)[index]
    w = jax.random.uniform(k_w, (b,), jnp.float32, settings.w_min, settings.w_max)
    w_emb = guidance_embedding(w, GUIDANCE_EMBED_DIM).astype(models.compute_dtype)
    noise = jax.random.normal(k_noise, x0.shape, jnp.float32)
    x_t = add_noise(x0, noise, t_n)

    def boundary(t, x, eps):
        c_skip, c_out = boundary_scalings(t)
        shape = (-1,) + (1,) * (nd - 1)
        return c_skip.reshape(shape) * x + c_out.reshape(shape) * predicted_x0(x, eps, t)

    params = student_params(trainable, frozen["student_base"], trainable_spec)
    online = boundary(t_n, x_t, unet_eps(models.student, params, x_t, t_n, context, fps, w_emb, dropout_rng=k_drop))

    # Teacher ODE step (LCM-form guidance on x0 and eps).
    eps_c, eps_u = teacher_cond_uncond(models, frozen, x_t, t_n, context, uncond, fps)
    x0_c, x0_u = predicted_x0(x_t, eps_c, t_n), predicted_x0(x_t, eps_u, t_n)
    wb = w.reshape((-1,) + (1,) * (nd - 1))
    x_prev = ddim_solver_step(x0_c + wb * (x0_c - x0_u), eps_c + wb * (eps_c - eps_u), index,
                              settings.num_ddim_steps)

    if settings.target == "ema":
        target_params = student_params(frozen["target"], frozen["student_base"], trainable_spec)
    else:
        target_params = jax.lax.stop_gradient(params)
    target_eps = unet_eps(models.student, target_params, x_prev, t_prev, context, fps, w_emb)
    target = jax.lax.stop_gradient(boundary(t_prev, x_prev, target_eps))

    loss_cd = pseudo_huber(online, target, settings.huber_c)
    metrics = {"loss/consistency": loss_cd, "guidance/w_mean": jnp.mean(w)}
    scored = online
    if settings.reward_rollout_steps and models.rewards:
        # A key outside the split above, so that runs without a rollout keep their random draws.
        scored = student_rollout(models.student, params, context, fps, w, x0.shape, jax.random.fold_in(rng, 6),
                                 settings.reward_rollout_steps)
    reward_loss, reward_metrics = reward_terms(scored, frozen, batch, k_reward, models)
    metrics.update(reward_metrics)
    return loss_cd + reward_loss, {"metrics": metrics}


def student_rollout(cfg, params, context, fps, w, shape, rng, steps: int):
    """The student's ``steps``-step LCM sample (float32 latents of ``shape``) from fresh noise at guidance
    ``w``, drawn by the sampling front-end itself, differentiable in ``params``."""
    k_start, k_renoise = jax.random.split(rng)
    x_T = jax.random.normal(k_start, shape, jnp.float32)
    return make_sampler(cfg, SamplerSpec("lcm", steps))(params, context, None, x_T, k_renoise, fps=fps, guidance=w)


# ---- rewards --------------------------------------------------------------------------------------


def reward_frame_indices(rng, num_frames: int, k: int, mode: str):
    """``k`` frame indices: distinct random ones (image rewards), or every ``num_frames // k``-th frame
    from a random start below that stride (video rewards, as T2V-Turbo picks them)."""
    k = min(k, num_frames)
    if mode == "random":
        return jnp.sort(jax.random.permutation(rng, num_frames)[:k])
    stride = num_frames // k
    return jax.random.randint(rng, (), 0, stride) + jnp.arange(k) * stride


def reward_terms(latents, frozen, batch, rng, models: ModelSet):
    """``(Σ −weight·mean score, metrics)`` of the rewards on decoded frames of ``latents``.

    Frames are decoded through the frozen VAE with gradients (one frame at a time, rematerialised),
    mapped from [-1, 1] to [0, 1] and clipped as T2V-Turbo's reward functions do, then scored against
    the batch's OpenCLIP ``tokens``, or the reward's own tokens when it tokenizes prompts itself. A
    reward whose ``score`` takes a ``crop_key`` gets a fresh one (the release's random crop).
    """
    total = jnp.zeros((), jnp.float32)
    metrics = {}
    for i, spec in enumerate(models.rewards):
        k_frames, k_crop = jax.random.split(jax.random.fold_in(rng, i))
        idx = reward_frame_indices(k_frames, latents.shape[1], spec.frames, spec.mode)
        frames = decode_video_latents(frozen["vae"], jnp.take(latents, idx, axis=1).astype(models.compute_dtype),
                                      models.vae, chunk_size=1, remat=True)
        frames = jnp.clip((frames.astype(jnp.float32) + 1.0) / 2.0, 0.0, 1.0)
        tokens = batch[spec.token_key if spec.model.tokenizes_text else "tokens"]
        options = {"crop_key": k_crop} if "crop_key" in inspect.signature(spec.model.score).parameters else {}
        score = jnp.mean(spec.model.score(frozen["rewards"][spec.name], frames, tokens, **options))
        term = -spec.weight * score
        total = total + term
        metrics[f"reward/{spec.name}"] = score
        metrics[f"loss/{spec.name}"] = term
    return total, metrics


# The loss of each stage (``config.stage``).
STAGE_LOSSES = {"stage1": distill_loss, "stage2": consistency_loss}


def loss_function(config, models: ModelSet, spec: TrainableSpec):
    """The loss of ``config.stage`` with its ``config.loss`` settings, as the train step calls it."""
    settings = STAGE_SETTINGS[config.stage](**config.loss.to_dict())
    return functools.partial(STAGE_LOSSES[config.stage], models=models, trainable_spec=spec, settings=settings)
