"""The trainer for both stages, top to bottom: mesh → input → models → optimizer → restore → step → loop.

``train(config, workdir)`` runs an experiment config (``experiments/stage1_distill.py``,
``experiments/stage2_turbo.py``) until ``total_steps``, resuming from the newest checkpoint in
``WORKDIR/checkpoints`` when there is one. The same code runs on one CPU, one GPU, eight GPUs or a TPU
slice; only ``config.mesh`` (and, across hosts, the launcher) changes.

Re-running a finished run returns at once. SIGINT/SIGTERM stop the loop at a safe point (after a
step, never inside a save): the step reached is checkpointed, pending writes finish, and
:class:`~hummingbird_jax.errors.Interrupted` is raised (exit code 130/143 on the command line).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import time
from typing import Any

import jax
import jax.numpy as jnp
from tqdm import tqdm

from hummingbird_jax.convert.prune import prune_teacher_to_student
from hummingbird_jax.data.sharding import put_batch_on_mesh
from hummingbird_jax.errors import ConfigError, Interrupted, WorkdirError
from hummingbird_jax.model_dir import load_component
from hummingbird_jax.models.clip import CLIPTextEncoder
from hummingbird_jax.models.unet3d import init_unet, unet_abstract_variables, unet_param_shapes
from hummingbird_jax.text import tokenize
from hummingbird_jax.training import checkpointing
from hummingbird_jax.training.config import STAGES
from hummingbird_jax.training.export import student_from_checkpoint
from hummingbird_jax.training.inputs import make_input, model_fields
from hummingbird_jax.training.interruption import StopRequest
from hummingbird_jax.training.losses import loss_function
from hummingbird_jax.training.mesh import (
    largest_dim_shardings,
    logical_param_shardings,
    make_mesh,
    replicated,
    shard_like,
    with_shapes,
)
from hummingbird_jax.training.metrics import MetricWriter, step_flops
from hummingbird_jax.training.models import (
    RANDOM,
    ModelSet,
    build_model_set,
    load_reward_params,
    load_teacher_components,
)
from hummingbird_jax.training.optimizer import make_optimizer
from hummingbird_jax.training.samples import Sampler, sample_spec
from hummingbird_jax.training.train_step import StepSettings, init_state, make_train_step
from hummingbird_jax.training.trainable import TrainableSpec, split_student

log = logging.getLogger(__name__)


# ---- pieces the sections below use ------------------------------------------------------------------


def maybe_initialize_distributed(c) -> None:
    """``jax.distributed.initialize`` for multi-host runs: with an explicit coordinator from the config
    (e.g. several processes on one machine), or auto-detected under a cluster launcher (SLURM, Open MPI,
    TPU pods). Must run before anything touches a device."""
    if jax.distributed.is_initialized():
        return
    if c.coordinator_address:
        # Collectives between CPU processes (smoke runs, tests); accelerators bring their own.
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(coordinator_address=c.coordinator_address, num_processes=int(c.num_processes),
                                   process_id=int(c.process_id))
        return
    env = os.environ
    cluster = (int(env.get("SLURM_NTASKS", "1")) > 1 or int(env.get("OMPI_COMM_WORLD_SIZE", "1")) > 1
               or "," in env.get("TPU_WORKER_HOSTNAMES", "") or "JAX_COORDINATOR_ADDRESS" in env)
    if cluster and c.auto:
        jax.distributed.initialize()


def _cast(tree, dtype):
    dtype = jnp.dtype(dtype)
    return jax.tree_util.tree_map(lambda a: jnp.asarray(a).astype(dtype)
                                  if jnp.issubdtype(jnp.asarray(a).dtype, jnp.floating) else a, tree)


def initial_student(config, models: ModelSet, teacher_params) -> Any:
    """Student params before training: pruned from the teacher, random, or loaded (a converted model
    directory, or a training checkpoint step, e.g. the stage-1 result as the stage-2 student)."""
    source = config.models.student_init
    cfg = models.student.replace(dtype="float32", remat_policy="none")
    if source == "prune":
        return prune_teacher_to_student(teacher_params, cfg, models.teacher.replace(dtype="float32"))
    if source == RANDOM:
        return init_unet(cfg, jax.random.key(config.seed + 1))
    if checkpointing.is_training_checkpoint(source):
        params, _ = student_from_checkpoint(source)
    else:
        params, _ = load_component(source, "unet")
    params = dict(params)
    expected = unet_param_shapes(cfg)
    if "time_cond_proj" in expected and "time_cond_proj" not in params:  # a stage-1 student entering stage 2
        params["time_cond_proj"] = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype),
                                                          expected["time_cond_proj"])
    return params


def validate(config) -> None:
    """Config errors found before anything is loaded or compiled."""
    if config.stage not in STAGES:
        raise ValueError(f"stage = {config.stage!r}; expected one of {STAGES}")
    for key in ("total_steps", "checkpoint_every"):
        if int(config[key]) < 1:
            raise ValueError(f"{key} must be >= 1, got {config[key]}")
    if config.stage == "stage2" and config.loss.target == "ema" and float(config.ema.decay) <= 0:
        raise ValueError("loss.target = 'ema' needs ema.decay > 0")
    if config.stage == "stage1" and config.rewards:
        raise ValueError("rewards are a stage-2 feature; remove the rewards section")
    if config.data.source != "synthetic" and not config.data.path:
        raise ValueError(f"data.path is empty; give the {config.data.source} source's path (--set data.path=...)")
    if not config.models.student_init:
        raise ValueError("models.student_init is empty; give 'prune', 'random', a converted model directory or "
                         "a training checkpoint step (e.g. the stage-1 run's WORKDIR/checkpoints/STEP)")
    if int(config.sample_every) > 0 and config.sample_prompts:
        sample_spec(config)  # a step count the sampler cannot take fails here, not at the first sample
    if config.models.weights != RANDOM and not os.path.isdir(config.models.weights):
        raise ValueError(f"models.weights={config.models.weights!r}: not a directory; give a converted "
                         "VideoCrafter2 model directory (hummingbird convert torch-to-jax) or 'random'")


def config_to_json(config) -> dict:
    return json.loads(config.to_json())


# ---- the trainer -----------------------------------------------------------------------------------


def train(config, workdir: str, *, max_steps: int | None = None) -> dict:
    """Train until ``config.total_steps`` (or ``max_steps`` more steps); returns the final state and
    the metrics of every step run here (``history``). A run already at ``total_steps`` returns
    ``finished=True`` and ``state=None`` without building anything."""
    validate(config)
    maybe_initialize_distributed(config.distributed)
    is_main = jax.process_index() == 0

    # Mesh, checked against the devices before anything is written.
    try:
        mesh = make_mesh(config.mesh)
    except ValueError as err:
        here = f"{jax.device_count()} {jax.default_backend()} device(s) here"
        raise ConfigError(f"mesh.data={config.mesh.data} mesh.fsdp={config.mesh.fsdp}: {err} ({here}; "
                          "expected sizes whose product is the device count, -1 taking what is left)") from None
    batch_sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(("data", "fsdp")))

    # The workdir: this run's, or refused; a finished run stops here.
    if os.path.exists(workdir) and not os.path.isdir(workdir):
        raise WorkdirError(f"--workdir {workdir} exists and is not a directory (expected a run directory)")
    os.makedirs(workdir, exist_ok=True)
    manager = checkpointing.make_manager(workdir, int(config.keep_checkpoints), bool(config.async_checkpoints))
    latest = manager.latest_step()
    checkpointing.claim_workdir(workdir, config_to_json(config), latest, write=is_main)
    if latest is not None and latest >= int(config.total_steps) and max_steps is None:
        manager.close()
        log.info("%s is already at step %d of %d", workdir, latest, int(config.total_steps))
        return {"state": None, "frozen": None, "history": [], "start_step": latest, "finished": True,
                "models": None, "mesh": mesh}
    with StopRequest(announce=is_main) as stop:
        return _train(config, workdir, mesh, batch_sharding, manager, latest, stop, max_steps, is_main)


def _train(config, workdir, mesh, batch_sharding, manager, latest, stop, max_steps, is_main) -> dict:
    # Models: shapes and shardings first (eval_shape), then the weights, placed straight into them.
    models = build_model_set(config)
    # Input pipeline (this process's shard; the Grain state is checkpointed with the model).
    loader = make_input(config.data, config.seed, jax.process_index(), jax.process_count(),
                        context_length=models.text.context_length)
    spec = TrainableSpec.from_config(config.trainable)
    student_shardings = logical_param_shardings(unet_abstract_variables(models.student)["params"], mesh)
    teacher_shardings = logical_param_shardings(unet_abstract_variables(models.teacher)["params"], mesh)
    host = load_teacher_components(config.models.weights, models, config.seed)
    student = initial_student(config, models, host["teacher"])
    empty = jnp.asarray(tokenize([""], models.text.context_length))
    uncond = jax.jit(lambda p, t: CLIPTextEncoder(models.text).apply({"params": p}, t))(host["text"], empty)
    frozen_host = {
        "teacher": _cast(host["teacher"], config.precision.frozen),
        "vae": _cast(host["vae"], config.precision.frozen),
        "text": _cast(host["text"], config.precision.frozen),
        "uncond": uncond.astype(jnp.float32),
        "rewards": {r.name: _cast(load_reward_params(r, config.rewards[r.name].checkpoint, config.seed + 7 + i),
                                  config.precision.frozen) for i, r in enumerate(models.rewards)},
    }
    frozen_shardings = {
        "teacher": teacher_shardings,
        "vae": largest_dim_shardings(frozen_host["vae"], mesh),
        "text": largest_dim_shardings(frozen_host["text"], mesh),
        "uncond": replicated(mesh),
        "rewards": {k: largest_dim_shardings(v, mesh) for k, v in frozen_host["rewards"].items()},
    }
    # Host copies first: on several processes, device_put of host values builds the global arrays.
    frozen = jax.device_put(jax.device_get(frozen_host), frozen_shardings)
    del host, frozen_host

    # Optimizer and the state's shapes and shardings.
    optimizer, schedule = make_optimizer(config.optim, int(config.total_steps))
    use_ema = float(config.ema.decay) > 0
    trainable, base = split_student(student, spec, jax.random.key(config.seed + 2))
    del student
    student_ref = with_shapes(unet_param_shapes(models.student), student_shardings)
    make_state = functools.partial(init_state, optimizer=optimizer, seed=int(config.seed), ema=use_ema)
    abstract_state = jax.eval_shape(make_state, trainable, base)
    state_shardings = shard_like(abstract_state, student_ref, mesh)

    # Restore the newest checkpoint, or start fresh.
    if latest is not None:
        target = jax.tree_util.tree_map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
                                        abstract_state, state_shardings)
        try:
            state = checkpointing.restore(manager, latest, target, loader)
        except (ValueError, KeyError, TypeError) as err:
            first = (str(err).strip().splitlines() or [""])[0][:200]
            raise WorkdirError(f"{checkpointing.checkpoint_dir(workdir)}/{latest} does not fit this run's train "
                               f"state ({type(err).__name__}: {first}); use a new --workdir") from None
        log.info("resumed from %s step %d", checkpointing.checkpoint_dir(workdir), latest)
    else:
        trainable, base = jax.device_put(jax.device_get((trainable, base)),
                                         (state_shardings["params"], state_shardings["base"]))
        state = jax.jit(make_state, out_shardings=state_shardings)(trainable, base)
    del trainable, base
    start = int(jax.device_get(state["step"]))

    # The jitted step: explicit shardings in and out, the state donated.
    step_fn = make_train_step(loss_function(config, models, spec), optimizer, schedule,
                              StepSettings(grad_accum=int(config.optim.grad_accum), ema_decay=float(config.ema.decay),
                                           ema_as_target=config.stage == "stage2" and config.loss.target == "ema"))
    jitted = jax.jit(step_fn, in_shardings=(state_shardings, frozen_shardings, batch_sharding),
                     out_shardings=(state_shardings, replicated(mesh)), donate_argnums=(0,))

    # The loop: step, log, checkpoint, sample.
    total = int(config.total_steps) if max_steps is None else min(int(config.total_steps), start + max_steps)
    writer = MetricWriter(workdir, enabled=is_main, start_step=start)
    compiled, flops = None, 0.0
    history: list[dict] = []
    progress = _progress(start, total, is_main)
    interval_start, interval_steps = time.perf_counter(), 0
    sampler = None
    done, saved = start, latest
    for step in range(start, total):
        if stop.requested:
            break
        batch = put_batch_on_mesh(model_fields(next(loader), models.rewards), mesh)
        if compiled is None:
            t0 = time.perf_counter()
            compiled = jitted.lower(state, frozen, batch).compile()
            flops = step_flops(compiled, mesh.size)
            log.info("compiled the step in %.1fs (%.3g TFLOP per step)", time.perf_counter() - t0, flops / 1e12)
            interval_start = time.perf_counter()
            if stop.requested:  # the batch drawn is not saved: the checkpoint's loader state stays valid
                break
        state, metrics = compiled(state, frozen, batch)
        interval_steps += 1
        done = step + 1
        record = None
        if done % int(config.log_every) == 0 or done == total or config.record_every_step:
            metrics = {k: float(v) for k, v in jax.device_get(metrics).items()}
            elapsed = (time.perf_counter() - interval_start) / max(interval_steps, 1)
            interval_start, interval_steps = time.perf_counter(), 0
            record = dict(metrics, step=done, step_time_s=elapsed,
                          clips_per_s=int(config.data.batch_size) / elapsed, tflops_per_s=flops / elapsed / 1e12)
            writer.write(done, record)
            history.append(record)
            if progress is not None:
                progress.set_postfix(loss=f"{metrics['loss']:.4g}")
        if progress is not None:
            progress.update(1)
        if done % int(config.checkpoint_every) == 0 or done == total:
            checkpointing.save(manager, done, state, loader, config_to_json(config))
            saved = done
        if int(config.sample_every) and (done % int(config.sample_every) == 0 or done == total):
            sampler = sampler or Sampler(config, models, spec, mesh)
            sampler.write(state, frozen, done, os.path.join(workdir, "samples"), is_main)
    interrupted = stop.requested and done < total
    if interrupted and done > start and saved != done:  # keep the steps run so far
        checkpointing.save(manager, done, state, loader, config_to_json(config))
        saved = done
    manager.wait_until_finished()
    manager.close()
    writer.close()
    if progress is not None:
        progress.close()
    if interrupted:
        checkpointing.remove_temporary(workdir)
        where = f"checkpoint of step {saved} kept" if saved is not None else "no checkpoint yet"
        raise Interrupted(stop.signum, f"stopped at step {done} of {total} ({where})")
    return {"state": state, "frozen": frozen, "history": history, "start_step": start, "models": models,
            "mesh": mesh}


def _progress(start: int, total: int, enabled: bool):
    if not enabled:
        return None
    return tqdm(total=total, initial=start, desc="train", unit="step", dynamic_ncols=True)
