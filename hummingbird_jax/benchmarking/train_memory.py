"""Per-device memory of one training step, from XLA's memory analysis of the compiled step (no execution).

The step is the trainer's own (:func:`hummingbird_jax.training.losses.loss_function` +
:func:`make_train_step`), lowered on abstract inputs (``jax.eval_shape`` params, nothing allocated)
for batch 1 × ``frames`` × ``height``×``width`` and compiled ahead of time on the current backend,
with the student's remat policy from the config and with no remat. For the stage-2 experiment that
is: the VC2 teacher frozen (cond + uncond in one call), the 0.7B student with LoRA, the target
pass, the decoded reward frames through the VAE, HPSv2.1 at ViT-H-14 size on 5 of them and
InternVideo2-Stage2-1B on 8 strided ones, all in bf16 compute.

    hummingbird bench memory stage2_turbo                   # writes benchmarks/results/train_memory.{json,md}
    hummingbird bench memory stage1_distill --variant tiny --out /tmp/mem
"""

from __future__ import annotations

import argparse
import functools
import os
import time

import jax
import jax.numpy as jnp

from hummingbird_jax.benchmarking import report
from hummingbird_jax.diffusion.sampling import DEFAULT_FRAMES, DEFAULT_SIZE
from hummingbird_jax.models.unet3d import unet_abstract_variables, unet_param_shapes
from hummingbird_jax.models.vae import vae_param_shapes
from hummingbird_jax.training import mesh as sharding
from hummingbird_jax.training.config import apply_overrides, load_experiment
from hummingbird_jax.training.losses import loss_function
from hummingbird_jax.training.models import build_model_set, text_param_shapes
from hummingbird_jax.training.optimizer import make_optimizer
from hummingbird_jax.training.train_step import (
    StepSettings,
    init_state,
    make_train_step,
)
from hummingbird_jax.training.trainable import TrainableSpec, split_student

GiB = 2**30
# Bad input to the suite: an unknown experiment, variant or override key, a bad value, a missing file.
INPUT_ERRORS = (KeyError, ValueError, FileNotFoundError)


def input_error_message(err: Exception) -> str:
    return str(err).strip("'\"")  # KeyError quotes its message


def add_arguments(p) -> None:
    p.add_argument("experiment", help="experiment file or bare name in experiments/ (stage2_turbo, stage1_distill)")
    p.add_argument("--variant", default="full", help="config variant (default full)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--frames", type=int, default=DEFAULT_FRAMES)
    p.add_argument("--height", type=int, default=DEFAULT_SIZE[0])
    p.add_argument("--width", type=int, default=DEFAULT_SIZE[1])
    p.add_argument("--remat", nargs="+", default=None,
                   help="U-Net remat policies to compile (default: the config's and 'none')")
    p.add_argument("--out", default=report.RESULTS_DIR, help="results folder (train_memory.json / .md)")


def abstract_step(config, frames: int, height: int, width: int):
    """``(jitted step, abstract state, abstract frozen, abstract batch)`` of the config on one device."""
    models = build_model_set(config)
    spec = TrainableSpec.from_config(config.trainable)
    mesh = sharding.make_mesh({"data": 1, "fsdp": 1}, jax.devices()[:1])
    frozen_dtype = jnp.dtype(config.precision.frozen)
    as_frozen = lambda tree: jax.tree_util.tree_map(  # noqa: E731
        lambda s: jax.ShapeDtypeStruct(s.shape, frozen_dtype if jnp.issubdtype(s.dtype, jnp.floating) else s.dtype),
        tree)
    frozen = {
        "teacher": as_frozen(unet_param_shapes(models.teacher)),
        "vae": as_frozen(vae_param_shapes(models.vae)),
        "text": as_frozen(text_param_shapes(models.text)),
        "uncond": jax.ShapeDtypeStruct((1, models.text.context_length, models.text.width), jnp.float32),
        "rewards": {r.name: as_frozen(r.model.params_shapes()) for r in models.rewards},
    }
    frozen_shardings = {
        "teacher": sharding.logical_param_shardings(unet_abstract_variables(models.teacher)["params"], mesh),
        "vae": sharding.largest_dim_shardings(frozen["vae"], mesh),
        "text": sharding.largest_dim_shardings(frozen["text"], mesh),
        "uncond": sharding.replicated(mesh),
        "rewards": {k: sharding.largest_dim_shardings(v, mesh) for k, v in frozen["rewards"].items()},
    }
    student = unet_param_shapes(models.student.replace(dtype="float32"))
    optimizer, schedule = make_optimizer(config.optim, int(config.total_steps))
    make_state = functools.partial(init_state, optimizer=optimizer, seed=0, ema=float(config.ema.decay) > 0)
    state = jax.eval_shape(lambda p: make_state(*split_student(p, spec, jax.random.key(0))), student)
    student_shardings = sharding.logical_param_shardings(unet_abstract_variables(models.student)["params"], mesh)
    student_ref = sharding.with_shapes(student, student_shardings)
    state_shardings = sharding.shard_like(state, student_ref, mesh)
    f = models.vae.downsample_factor
    batch = {"latents": jax.ShapeDtypeStruct((1, frames, height // f, width // f, 4), jnp.float32),
             "tokens": jax.ShapeDtypeStruct((1, models.text.context_length), jnp.int32),
             "fps": jax.ShapeDtypeStruct((1,), jnp.int32)}
    for r in models.rewards:  # rewards with their own tokenizer read their own prompt tokens
        if r.model.tokenizes_text:
            batch[r.token_key] = jax.ShapeDtypeStruct((1, r.model.tokenize([""]).shape[1]), jnp.int32)
    step = make_train_step(loss_function(config, models, spec), optimizer, schedule,
                           StepSettings(grad_accum=1, ema_decay=float(config.ema.decay),
                                        ema_as_target=config.stage == "stage2" and config.loss.target == "ema"))
    batch_sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(("data", "fsdp")))
    jitted = jax.jit(step, in_shardings=(state_shardings, frozen_shardings, batch_sharding),
                     out_shardings=(state_shardings, sharding.replicated(mesh)), donate_argnums=(0,))
    return jitted, state, frozen, batch, models


def measure(config, frames: int, height: int, width: int) -> dict:
    jitted, state, frozen, batch, models = abstract_step(config, frames, height, width)
    t0 = time.perf_counter()
    lowered = jitted.lower(state, frozen, batch)
    t1 = time.perf_counter()
    compiled = lowered.compile()
    t2 = time.perf_counter()
    mem = compiled.memory_analysis()
    sizes = {k: int(getattr(mem, k)) for k in ("argument_size_in_bytes", "output_size_in_bytes",
                                               "alias_size_in_bytes", "temp_size_in_bytes",
                                               "generated_code_size_in_bytes") if hasattr(mem, k)}
    peak = sizes["argument_size_in_bytes"] + sizes["output_size_in_bytes"] - sizes.get("alias_size_in_bytes", 0) \
        + sizes["temp_size_in_bytes"]
    count = lambda tree: sum(int(x.size) for x in jax.tree_util.tree_leaves(tree))  # noqa: E731
    return {"remat": models.student.remat_policy, "lower_s": round(t1 - t0, 1), "compile_s": round(t2 - t1, 1),
            **sizes, "peak_bytes": peak, "peak_gib": round(peak / GiB, 2),
            "trainable_params": count(state["params"]), "teacher_params": count(frozen["teacher"]),
            "reward_params": count(frozen["rewards"]), "backend": jax.default_backend()}


def run(args) -> dict:
    base = apply_overrides(load_experiment(args.experiment, args.variant), list(args.overrides))
    policies = args.remat or list(dict.fromkeys([base.precision.remat, "none"]))
    result = {"experiment": args.experiment, "variant": args.variant, "overrides": list(args.overrides),
              "shape": [1, args.frames, args.height, args.width], "compute": base.precision.compute,
              "xla_flags": os.environ.get("XLA_FLAGS", ""), "machine": report.machine_info(), "rows": [],
              "rewards": [f"{name}: {r.kind} {r.size}, {r.frames} {r.mode} frames, weight {r.weight}"
                          for name, r in sorted((base.get("rewards") or {}).items()) if float(r.weight)]}
    for policy in policies:
        config = apply_overrides(load_experiment(args.experiment, args.variant), list(args.overrides))
        config.precision.remat = policy
        print(f"compiling the {config.stage} step, remat={policy}, 1×{args.frames}×{args.height}×{args.width} ...",
              flush=True)
        row = measure(config, args.frames, args.height, args.width)
        print(f"  peak {row['peak_gib']} GiB per device (args {row['argument_size_in_bytes'] / GiB:.2f}, "
              f"temp {row['temp_size_in_bytes'] / GiB:.2f}); compiled in {row['compile_s']} s", flush=True)
        result["rows"].append(row)
        write(result, args.out)  # after every row: a long compile never loses the ones before it
    return result


def write(result: dict, out_dir: str) -> None:
    rows = result["rows"]
    lines = [f"# Training step memory: {result['experiment']} ({result['variant']})", "",
             f"XLA memory analysis of the compiled step (not executed), batch {result['shape'][0]} × "
             f"{result['shape'][1]} frames × {result['shape'][2]}×{result['shape'][3]}, "
             f"{result['compute']} compute, one device, backend {rows[0]['backend'] if rows else '?'}"
             f"{', XLA_FLAGS ' + repr(result['xla_flags']) if result['xla_flags'] else ''}.",
             report.describe_machine(result["machine"]),
             *([f"Rewards: {'; '.join(result['rewards'])}."] if result.get("rewards") else []), "",
             "| U-Net remat | peak GiB | arguments GiB | temporaries GiB | trainable params | compile s |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['remat']} | {r['peak_gib']} | {r['argument_size_in_bytes'] / GiB:.2f} | "
                     f"{r['temp_size_in_bytes'] / GiB:.2f} | {r['trainable_params']:,} | {r['compile_s']} |")
    report.write_results("train_memory", result, "\n".join(lines), out_dir)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(ap)
    try:
        return run(ap.parse_args(argv))
    except INPUT_ERRORS as err:
        raise SystemExit(f"train_memory: {input_error_message(err)}") from None


if __name__ == "__main__":
    main()
