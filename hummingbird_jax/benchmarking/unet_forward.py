"""Forward pass of the 3-D U-Net: compile time, step time, achieved GFLOP/s, and optionally the same
forward of the official PyTorch module in the same process.

The model is a preset (``vc2``, ``hb-0.9b``, ``hb-0.7b``: same block structure as the release) at a
reduced width by default so it runs in seconds on a 2-core CPU; ``--model-channels 320`` (or
``--width-scale 1``) is the released width (head width and ``--context-dim`` are the model's unless set).
Weights are random, with the layers the official init zeroes drawn at random too, so no path is hidden
from the comparison. Each
attention implementation in ``--attention`` is compiled and timed in the same run::

    python -m benchmarks.unet_forward                              # hb-0.7b, 64 channels, 4x32x48
    python -m benchmarks.unet_forward --model hb-0.7b --frames 4 --height 32 --width 48 \\
        --model-channels 128 --attention xla,chunked --repeats 5 --out benchmarks/results
    python -m benchmarks.unet_forward --model hb-0.7b --width-scale 1 --context-dim 1024 \\
        --frames 16 --height 40 --width 64 --dtype bfloat16 --attention auto   # full size (GPU)

``--torch-reference DIR`` (needs PyTorch and ``einops``) imports the official ``UNetModel`` from a
checkout of AMD-Hummingbird-T2V through :mod:`hummingbird_jax.benchmarking.official` (``DIR`` is the
repository root or its ``acceleration/t2v-turbo`` folder; nothing of it is copied here), built with the
same config (``openaimodel3d`` for the teacher, ``openaimodel3d_t2v_jun_09B`` / ``_07B`` for the
students) and the same weights loaded with ``strict=True``, runs the same inputs (layout ``b c t h w``)
in float32 under ``torch.inference_mode`` and reports its step time, the JAX/PyTorch step-time ratio
and the max relative error ``max|jax - torch| / max|torch|`` of every JAX implementation. (The whole
generation in the official code is ``hummingbird bench latency --torch-reference``.)

``--torch-threads N`` sets PyTorch's intra-op threads (default: its own choice; on a busy shared machine
one thread can be several times faster than two, whose per-op barriers suffer from oversubscription).

``--compilation-cache DIR`` turns on JAX's persistent compilation cache (a second run then reports
the cache-hit compile time). Writes ``<out>/unet_forward_<model>_c<channels>_<t>x<h>x<w>_<dtype>.{json,md}``
(or ``--name``).
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from hummingbird_jax import hardware, registry
from hummingbird_jax.benchmarking import official, report
from hummingbird_jax.diffusion.sampling import DEFAULT_FPS
from hummingbird_jax.errors import ConfigError
from hummingbird_jax.hardware import backend_kind
from hummingbird_jax.models.attention import IMPLEMENTATIONS
from hummingbird_jax.models.unet3d import UNet3D, unet_param_shapes
from hummingbird_jax.models.unet_config import UNet3DConfig
from hummingbird_jax.models.unet_stats import count_params, forward_flops

CONTEXT_LEN = 77  # OpenCLIP's token count


# ---- model, weights and inputs ---------------------------------------------------------------------
def build_config(args) -> UNet3DConfig:
    """The registry's U-Net at the requested width; the guidance projection for the distilled students."""
    try:
        entry = registry.unet_entry(args.model)
    except ConfigError as err:
        raise SystemExit(f"unet_forward: {err}") from None
    released = entry.build()
    if args.width_scale is not None:
        channels = int(round(released.model_channels * args.width_scale))
    else:
        channels = args.model_channels
    cond = args.time_cond_proj_dim
    if cond is None:
        cond = None if entry.is_teacher else registry.GUIDANCE_EMBED_DIM
    head_channels = released.num_head_channels if args.head_channels is None else args.head_channels
    context_dim = released.context_dim if args.context_dim is None else args.context_dim
    overrides = dict(model_channels=channels, num_head_channels=head_channels, context_dim=context_dim,
                     time_cond_proj_dim=cond or None, dtype=args.dtype, param_dtype=args.dtype)
    return entry.build(**overrides)


def random_params(cfg: UNet3DConfig, seed: int = 0):
    """Every parameter drawn at random (numpy, from the abstract shapes: no init graph to compile).

    Kernels ``N(0, 1/fan_in)``, norm scales ``1 + N(0, 0.1²)``, biases ``N(0, 0.02²)``. Nothing is zero:
    with the official zero init, each ResBlock's last conv and each transformer's ``proj_out`` would
    output zeros, and a comparison with the PyTorch module could not see a wrong layer behind them.
    """
    rng = np.random.default_rng(seed)
    dtype = jnp.dtype(cfg.param_dtype)

    def draw(path, leaf):
        name = getattr(path[-1], "key", str(path[-1]))
        if leaf.ndim > 1:
            value = rng.standard_normal(leaf.shape, np.float32) / np.sqrt(np.prod(leaf.shape[:-1]))
        elif name == "scale":
            value = 1.0 + 0.1 * rng.standard_normal(leaf.shape, np.float32)
        else:
            value = 0.02 * rng.standard_normal(leaf.shape, np.float32)
        return jnp.asarray(value, dtype)

    return jax.tree_util.tree_map_with_path(draw, unet_param_shapes(cfg))


def make_inputs(cfg: UNet3DConfig, batch: int, frames: int, height: int, width: int, seed: int = 0) -> dict:
    """Channels-last float32 numpy inputs of one sampling step."""
    rng = np.random.default_rng(seed)
    inputs = {
        "x": rng.standard_normal((batch, frames, height, width, cfg.in_channels), np.float32),
        "timesteps": rng.integers(0, 1000, (batch,)).astype(np.int64),
        "context": rng.standard_normal((batch, CONTEXT_LEN, cfg.context_dim), np.float32),
        "fps": np.full((batch,), DEFAULT_FPS, np.int64),
    }
    if cfg.time_cond_proj_dim is not None:
        inputs["timestep_cond"] = rng.standard_normal((batch, cfg.time_cond_proj_dim), np.float32)
    return inputs


# ---- timing ----------------------------------------------------------------------------------------
def time_calls(fn, warmup: int, repeats: int) -> dict:
    """Wall time of ``fn()`` (which must block until its result exists) after ``warmup`` calls."""
    times = report.wall_times(fn, warmup, repeats)
    return {"step_median_s": statistics.median(times), "step_min_s": min(times), "step_max_s": max(times),
            "step_times_s": times}


def peak_memory_bytes(device) -> int | None:
    """``peak_bytes_in_use`` where the backend reports it (GPUs, TPUs; not the CPU): the peak of the
    whole process so far, as JAX has no way to reset it between rows."""
    stats = device.memory_stats() if hasattr(device, "memory_stats") else None
    return int(stats["peak_bytes_in_use"]) if stats and "peak_bytes_in_use" in stats else None


def bench_jax(cfg: UNet3DConfig, params, inputs: dict, implementation: str, warmup: int, repeats: int):
    """Compile and time one attention implementation; returns its row and its output (numpy)."""
    model = UNet3D(cfg.replace(attention=implementation))
    cond = inputs.get("timestep_cond")

    def forward(p, x, t, ctx, fps, cond):
        return model.apply({"params": p}, x, t, ctx, fps=fps, timestep_cond=cond)

    args = (params, inputs["x"], inputs["timesteps"].astype(np.int32), inputs["context"],
            inputs["fps"].astype(np.int32), cond)
    args = jax.device_put(args)
    start = time.perf_counter()
    lowered = jax.jit(forward).lower(*args)
    lower_s = time.perf_counter() - start
    start = time.perf_counter()
    compiled = lowered.compile()
    compile_s = time.perf_counter() - start
    out = compiled(*args).block_until_ready()
    row = {"implementation": implementation, "lower_s": lower_s, "compile_s": compile_s,
           "lower_and_compile_s": lower_s + compile_s}
    row.update(time_calls(lambda: compiled(*args).block_until_ready(), warmup, repeats))
    memory = compiled.memory_analysis()
    if memory is not None:
        row["compiled_temp_bytes"] = int(memory.temp_size_in_bytes)
    row["peak_device_bytes"] = peak_memory_bytes(jax.devices()[0])
    return row, np.asarray(out, np.float32)


# ---- the official PyTorch module -------------------------------------------------------------------
def bench_torch(code_dir: str, cfg: UNet3DConfig, params, inputs: dict, warmup: int, repeats: int,
                threads: int | None = None):
    """Build, load (strict) and time the official module in float32; returns its row and output."""
    import torch  # deferred: PyTorch is needed only with --torch-reference

    if threads:
        # On a shared machine PyTorch's per-op thread barriers suffer most from oversubscription.
        torch.set_num_threads(threads)
    module = official.build_unet(code_dir, cfg, params)
    to_torch = lambda a: torch.from_numpy(np.ascontiguousarray(a))
    x = to_torch(np.transpose(inputs["x"], (0, 4, 1, 2, 3)))  # b t h w c -> b c t h w
    kwargs = dict(context=to_torch(inputs["context"]), fps=to_torch(inputs["fps"]))
    if "timestep_cond" in inputs:
        kwargs["timestep_cond"] = to_torch(inputs["timestep_cond"])
    timesteps = to_torch(inputs["timesteps"])

    def forward():
        with torch.inference_mode():
            return module(x, timesteps, **kwargs)

    start = time.perf_counter()
    out = forward()
    first_s = time.perf_counter() - start
    row = {"implementation": "pytorch (official)", "module": f"{official.official_target(cfg)}.UNetModel",
           "code_dir": official.official_root(code_dir), "first_call_s": first_s, "threads": torch.get_num_threads(),
           "parameters": int(sum(p.numel() for p in module.parameters()))}
    row.update(time_calls(forward, warmup, repeats))
    return row, np.transpose(out.numpy(), (0, 2, 3, 4, 1)).astype(np.float32)


# ---- report ----------------------------------------------------------------------------------------
def environment() -> dict:
    return {**report.machine_info(), "torch": report.package_version("torch")}


def markdown(result: dict) -> str:
    s, env, flops = result["setup"], result["environment"], result["flops_per_forward"]
    lines = [
        f"# U-Net forward: {s['model']} at {s['model_channels']} channels, batch {s['batch']}, "
        f"{s['frames']}x{s['height']}x{s['width']} latents, {s['dtype']}",
        "",
        f"{result['parameters']:,} parameters; {flops / 1e9:,.1f} GFLOP per forward (XLA cost analysis of the "
        f"plain-attention graph, used for every row). Step time: median of {s['repeats']} after {s['warmup']} "
        "warm-up calls.",
        "",
        report.describe_machine(env) + (f" torch {env['torch']}." if result.get("torch") else ""),
        "",
        "| implementation | lower + compile (s) | step median (s) | min / max (s) | GFLOP/s | temp memory (MiB) "
        "| peak device memory (MiB) | time vs PyTorch: median (min) | max rel. error vs PyTorch |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    mib = lambda b: "n/a" if b is None else f"{b / 2**20:,.0f}"
    for row in result["jax"]:
        ratio = row.get("time_ratio_vs_torch")
        ratio = None if ratio is None else f"{ratio:.2f} ({row['time_ratio_min_vs_torch']:.2f})"
        error = row.get("max_rel_error_vs_torch")
        lines.append(
            f"| JAX `{row['implementation']}` | {row['lower_and_compile_s']:.2f} | {row['step_median_s']:.4f} | "
            f"{row['step_min_s']:.4f} / {row['step_max_s']:.4f} | {row['gflops_per_s']:,.1f} | "
            f"{mib(row.get('compiled_temp_bytes'))} | {mib(row.get('peak_device_bytes'))} | "
            f"{ratio or 'n/a'} | {'n/a' if error is None else format(error, '.1e')} |")
    torch_row = result.get("torch")
    if torch_row:
        lines.append(
            f"| PyTorch official (float32, threads: {torch_row['threads']}) | first call {torch_row['first_call_s']:.2f} | "
            f"{torch_row['step_median_s']:.4f} | {torch_row['step_min_s']:.4f} / {torch_row['step_max_s']:.4f} | "
            f"{torch_row['gflops_per_s']:,.1f} | n/a | n/a | 1 | reference |")
        lines += ["", f"Official module: `{torch_row['module']}` ({torch_row['parameters']:,} parameters), same "
                  "weights loaded with `strict=True`. Time ratio = JAX step / PyTorch step of the median (and of the "
                  "fastest) call; below 1 the JAX forward is faster."]
    lines += ["", "Temp memory: XLA's compiled scratch buffers (`memory_analysis`). Peak device memory: "
              "`memory_stats()['peak_bytes_in_use']`, the process peak so far, so it includes earlier rows "
              "(n/a where the backend does not report it, as on CPU)."]
    if len(result["jax"]) > 1:
        first = result["jax"][0]["implementation"]
        lines += ["", "Max relative error between JAX implementations (vs `" + first + "`): " + ", ".join(
            f"`{r['implementation']}` {r['max_rel_error_vs_first']:.1e}" for r in result["jax"][1:]) + "."]
    return "\n".join(lines) + "\n"


def default_name(args, cfg: UNet3DConfig) -> str:
    return (f"unet_forward_{args.model}_c{cfg.model_channels}_{args.frames}x{args.height}x{args.width}"
            f"_{args.dtype}" + ("" if args.batch == 1 else f"_b{args.batch}"))


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="hb-0.7b", help=f"a U-Net of the registry ({', '.join(registry.UNETS)})")
    width = ap.add_mutually_exclusive_group()
    width.add_argument("--model-channels", type=int, default=64, help="base width (default 64; the model's "
                       "released width with --width-scale 1)")
    width.add_argument("--width-scale", type=float, default=None, help="base width as a fraction of the model's")
    ap.add_argument("--head-channels", type=int, default=None,
                    help="channels per attention head (default: the model's)")
    ap.add_argument("--context-dim", type=int, default=None, help="text-embedding width (default: the model's)")
    ap.add_argument("--time-cond-proj-dim", type=int, default=None,
                    help="guidance-embedding width; 0 for none (default: 256 for the students, none for vc2)")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--frames", type=int, default=4)
    ap.add_argument("--height", type=int, default=32, help="latent height (pixels / 8)")
    ap.add_argument("--width", type=int, default=48, help="latent width (pixels / 8)")
    ap.add_argument("--dtype", default="float32", choices=hardware.DTYPES)
    ap.add_argument("--attention", default="xla,chunked",
                    help=f"comma-separated implementations to compare, of {', '.join(IMPLEMENTATIONS)}")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--compilation-cache", metavar="DIR", default=None, help="JAX persistent compilation cache")
    ap.add_argument("--torch-reference", metavar="DIR", default=None,
                    help="checkout of the official AMD-Hummingbird-T2V code: also time its UNetModel")
    ap.add_argument("--torch-threads", type=int, default=None, help="PyTorch intra-op threads (default: its own)")
    ap.add_argument("--out", default=report.RESULTS_DIR, help="folder for the JSON and Markdown results")
    ap.add_argument("--name", default=None, help="file stem (default: unet_forward_<model>_c<ch>_<t>x<h>x<w>_<dtype>)")
    args = ap.parse_args(argv)
    args.attention = [a.strip() for a in args.attention.split(",") if a.strip()]
    bad = [a for a in args.attention if a not in IMPLEMENTATIONS]
    if bad or not args.attention:
        ap.error(f"--attention: unknown implementation(s) {bad}; expected some of {IMPLEMENTATIONS}")
    if "cudnn" in args.attention and backend_kind() != "cuda":
        ap.error(f"--attention cudnn needs an NVIDIA GPU (backend here: {backend_kind()})")
    if min(args.batch, args.frames, args.height, args.width, args.repeats) < 1 or args.warmup < 0:
        ap.error("--batch, --frames, --height, --width and --repeats must be >= 1, --warmup >= 0")
    if args.torch_reference is not None:
        try:
            official.official_root(args.torch_reference)  # fail before compiling anything
        except official.OfficialCodeError as err:
            raise SystemExit(f"unet_forward: {err}") from None
        if report.package_version("torch") is None:
            ap.error("--torch-reference needs PyTorch installed (pip install torch)")
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    cfg = build_config(args)
    factor = 2 ** (len(cfg.channel_mult) - 1)
    if args.height % factor or args.width % factor:
        raise SystemExit(f"unet_forward: --height/--width ({args.height}x{args.width}) must divide by {factor}")
    if args.compilation_cache:
        jax.config.update("jax_compilation_cache_dir", args.compilation_cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)

    params = random_params(cfg, args.seed)
    inputs = make_inputs(cfg, args.batch, args.frames, args.height, args.width, args.seed)
    flops = forward_flops(cfg, args.frames, args.height, args.width, batch=args.batch, context_len=CONTEXT_LEN)
    print(f"{args.model} at {cfg.model_channels} channels: {count_params(params):,} parameters, "
          f"{flops / 1e9:,.2f} GFLOP per forward", flush=True)

    rows, outputs = [], []
    for impl in args.attention:
        row, out = bench_jax(cfg, params, inputs, impl, args.warmup, args.repeats)
        row["gflops_per_s"] = flops / row["step_median_s"] / 1e9
        if outputs:
            row["max_rel_error_vs_first"] = report.relative_error(out, outputs[0])
        rows.append(row)
        outputs.append(out)
        print(f"jax {impl}: compile {row['lower_and_compile_s']:.2f} s, step {row['step_median_s']:.4f} s "
              f"(median of {args.repeats}), {row['gflops_per_s']:,.1f} GFLOP/s", flush=True)

    torch_row = None
    if args.torch_reference:
        try:
            torch_row, torch_out = bench_torch(args.torch_reference, cfg, params, inputs, args.warmup, args.repeats,
                                               args.torch_threads)
        except official.OfficialCodeError as err:
            raise SystemExit(f"unet_forward: {err}") from None
        torch_row["gflops_per_s"] = flops / torch_row["step_median_s"] / 1e9
        for row, out in zip(rows, outputs):
            row["time_ratio_vs_torch"] = row["step_median_s"] / torch_row["step_median_s"]
            row["time_ratio_min_vs_torch"] = row["step_min_s"] / torch_row["step_min_s"]
            row["max_rel_error_vs_torch"] = report.relative_error(out, torch_out)
        print(f"pytorch official: step {torch_row['step_median_s']:.4f} s; " + ", ".join(
            f"{r['implementation']} ratio {r['time_ratio_vs_torch']:.2f} error {r['max_rel_error_vs_torch']:.1e}"
            for r in rows), flush=True)

    result = {
        "what": "jitted forward of UNet3D (random weights), one sampling step",
        "setup": {"model": args.model, "model_channels": cfg.model_channels, "head_channels": cfg.num_head_channels,
                  "context_dim": cfg.context_dim, "context_len": CONTEXT_LEN,
                  "time_cond_proj_dim": cfg.time_cond_proj_dim, "batch": args.batch, "frames": args.frames,
                  "height": args.height, "width": args.width, "dtype": args.dtype, "warmup": args.warmup,
                  "repeats": args.repeats, "compilation_cache": args.compilation_cache,
                  "torch_threads": args.torch_threads},
        "parameters": count_params(params),
        "flops_per_forward": flops,
        "environment": environment(),
        "jax": rows,
        "torch": torch_row,
    }
    print("wrote", *report.write_results(args.name or default_name(args, cfg), result, markdown(result), args.out))
    return result


if __name__ == "__main__":
    main()
