"""Latency of text-to-video generation, stage by stage: load, compile, text encoding, U-Net steps,
VAE decode and end to end, with FLOPs, achieved TFLOP/s and peak memory.

Every stage runs exactly as :class:`hummingbird_jax.inference.TextToVideo` runs it in ``hummingbird
generate`` (one compiled program for the whole sampling loop, one for the VAE decode, the jitted text
tower). Compilation is done and timed before any timed run; the persistent compilation cache is on by
default, so a second process reports the cache-hit compile time. Each timed run is one whole
generation in which every stage is timed after ``block_until_ready``; ``--warmup`` untimed
generations come first. Per-U-Net-step latency is the sampling loop's time over its steps (the
teacher's steps are batch-2 classifier-free-guidance calls).

FLOPs come from XLA's cost analysis: the U-Net forward with
:func:`hummingbird_jax.models.unet_stats.forward_flops`, the VAE decode of one frame (times the frames).
Peak device memory is ``device.memory_stats()['peak_bytes_in_use']`` where the backend reports it
(GPUs, TPUs), and the process's peak resident memory is always recorded.

Accuracy: with ``--dtype bfloat16`` the same seed and weights are also generated once in float32
(untimed) and ``bf16_max_error_vs_fp32`` is the final video's ``max|bf16 − fp32| / max|fp32|``.

``--torch-reference DIR`` (a checkout of AMD-Hummingbird-T2V; needs PyTorch and einops) runs the whole
generation a second time through the official PyTorch modules in the same process
(:mod:`hummingbird_jax.benchmarking.torch_reference`): the JAX float32 weights converted and loaded
strictly, the same tokens, initial latents and per-step noise, the same sampler and steps. Each stage
is timed in float32 and under ``torch.autocast(dtype=torch.bfloat16)`` with the same warm-up and
repeats, and reported beside the JAX stages with the JAX/PyTorch ratios, also against the faster of
the two ("best PyTorch"); the JAX video's error against the official float32 video is recorded.
``--torch-threads N`` sets PyTorch's intra-op threads (on a busy shared CPU one thread can be far faster
than two)::

    hummingbird bench latency --model hb-0.7b --random-init                        # 16x320x512, 4 steps
    hummingbird bench latency --model vc2 --random-init --dtype bfloat16           # 50-step CFG teacher
    hummingbird bench latency --checkpoint converted_dir --repeats 5
    python -m benchmarks.latency --model tiny-0.7b --random-init --frames 2 --height 64 --width 64
    hummingbird bench latency --model tiny-0.7b --random-init --frames 2 --height 64 --width 64 \
        --warmup 0 --repeats 1 --torch-reference /path/to/AMD-Hummingbird-T2V

Writes ``<out>/latency_<model>_<frames>x<height>x<width>_<steps>steps_<dtype>_<backend>.{json,md}``.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from hummingbird_jax import hardware, registry
from hummingbird_jax.benchmarking import official, report, torch_reference
from hummingbird_jax.diffusion.sampling import DEFAULT_FPS, DEFAULT_FRAMES, DEFAULT_SIZE
from hummingbird_jax.inference import TextToVideo
from hummingbird_jax.models.attention import resolve_implementation
from hummingbird_jax.models.unet_stats import count_params, forward_flops
from hummingbird_jax.models.vae import AutoencoderKL, vae_param_shapes
from hummingbird_jax.video_io import to_uint8

DEFAULT_PROMPT = "a corgi running on the beach at sunset"
DEFAULT_CACHE = os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")),
                             "hummingbird-jax", "jax-compilation-cache")


class BenchmarkError(ValueError):
    """Bad benchmark arguments, found before anything is loaded or compiled."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", choices=list(registry.UNETS),
                   help="a U-Net of the registry: hb-0.7b, hb-0.9b (LCM students), vc2 (50-step CFG teacher), "
                   "tiny-0.7b (smoke runs) …; with --checkpoint only a label (vc2 samples as the teacher)")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--random-init", action="store_true", help="random weights for --model (no download)")
    source.add_argument("--checkpoint", help="official full checkpoint or converted JAX model directory")
    p.add_argument("--config", help="the checkpoint's YAML or a preset name (default: recognised from its keys)")
    p.add_argument("--frames", type=int, default=DEFAULT_FRAMES)
    p.add_argument("--height", type=int, default=DEFAULT_SIZE[0])
    p.add_argument("--width", type=int, default=DEFAULT_SIZE[1])
    p.add_argument("--steps", type=int, help="sampling steps (default: the model's sampler's)")
    p.add_argument("--guidance", type=float, help="guidance scale (default: the model's sampler's)")
    p.add_argument("--batch", type=int, default=1, help="prompts per generation")
    p.add_argument("--fps", type=int, default=DEFAULT_FPS)
    p.add_argument("--dtype", choices=hardware.DTYPE_CHOICES, default="auto",
                   help=f"JAX compute dtype (default %(default)s; {hardware.AUTO_DTYPE_HELP})")
    p.add_argument("--vae-chunk", type=int, default=1, help="frames decoded by the VAE at once")
    p.add_argument("--prompt", default=DEFAULT_PROMPT)
    p.add_argument("--warmup", type=int, default=1,
                   help="untimed whole generations before the timed ones (0: time the first run after compiling)")
    p.add_argument("--repeats", type=int, default=3, help="timed whole generations (median/min/max over them)")
    p.add_argument("--seed", type=int, default=0)
    cache = p.add_mutually_exclusive_group()
    cache.add_argument("--compilation-cache", metavar="DIR", default=DEFAULT_CACHE,
                       help=f"JAX persistent compilation cache (default {DEFAULT_CACHE})")
    cache.add_argument("--no-compilation-cache", action="store_true", help="compile from scratch")
    p.add_argument("--torch-reference", metavar="DIR",
                   help="checkout of the official AMD-Hummingbird-T2V code: also run the whole generation through "
                   "its PyTorch modules, float32 and bf16 autocast (needs PyTorch and einops; see "
                   "hummingbird_jax/benchmarking/torch_reference.py)")
    p.add_argument("--torch-threads", type=int, metavar="N",
                   help="PyTorch intra-op threads for --torch-reference (default: its own choice; on a busy shared "
                   "CPU fewer threads can be much faster)")
    p.add_argument("--notes", help="free text recorded with the results (e.g. what else ran on the machine)")
    p.add_argument("--out", default=report.RESULTS_DIR, help="folder for the JSON and Markdown results")
    p.add_argument("--name", help="file stem (default latency_<model>_<t>x<h>x<w>_<steps>steps_<dtype>_<backend>)")


def check_arguments(args) -> None:
    """Everything checkable before loading or compiling."""
    if args.random_init and args.model is None:
        raise BenchmarkError(f"--random-init needs --model ({', '.join(registry.UNETS)})")
    if args.checkpoint is not None and not os.path.exists(args.checkpoint):
        raise BenchmarkError(f"checkpoint not found: {args.checkpoint}")
    for name in ("frames", "batch", "fps", "vae_chunk", "repeats"):
        if getattr(args, name) < 1:
            raise BenchmarkError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.torch_threads is not None and args.torch_threads < 1:
        raise BenchmarkError(f"--torch-threads must be at least 1, got {args.torch_threads}")
    if args.steps is not None and args.steps < 1:
        raise BenchmarkError(f"--steps must be at least 1, got {args.steps}")
    if args.warmup < 0:
        raise BenchmarkError(f"--warmup must be at least 0, got {args.warmup}")
    bad = [f"{n}={v}" for n, v in (("height", args.height), ("width", args.width)) if v < 64 or v % 64]
    if bad:
        raise BenchmarkError(f"{', '.join(bad)}: height and width must be positive multiples of 64")
    if args.torch_reference is not None:
        try:
            official.official_root(args.torch_reference)
            if args.random_init:
                official.check_official_unet(registry.unet_entry(args.model).build())
        except official.OfficialCodeError as err:
            raise BenchmarkError(str(err)) from None
        missing = [name for name in ("torch", "einops") if report.package_version(name) is None]
        if missing:
            raise BenchmarkError(f"--torch-reference needs {' and '.join(missing)} installed (pip install "
                                 f"{' '.join(missing)})")


# ---- measurements ----------------------------------------------------------------------------------
def summary(times: list[float]) -> dict:
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times), "runs_s": times}


def _cache_entries(directory: str | None) -> int | None:
    if not directory or not os.path.isdir(directory):
        return None if not directory else 0
    return sum(len(files) for _, _, files in os.walk(directory))


def setup_compilation_cache(directory: str | None) -> None:
    if directory:
        os.makedirs(directory, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", directory)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def load_bundle(args, dtype: str):
    teacher = args.model is not None and registry.unet_entry(args.model).is_teacher
    if args.random_init:
        return TextToVideo.random_init(args.model, seed=args.seed, teacher=teacher, dtype=dtype)
    if os.path.isdir(args.checkpoint):
        return TextToVideo.from_directory(args.checkpoint, teacher=True if teacher else None, dtype=dtype)
    return TextToVideo.from_checkpoint(args.checkpoint, args.config, teacher=teacher, dtype=dtype)


def vae_decode_flops(vae_config, latent_height: int, latent_width: int) -> float:
    """FLOPs of decoding one frame (XLA cost analysis; the decode maps frames in a loop whose body
    the analysis would count once, so one frame is analysed and multiplied by the caller)."""
    model = AutoencoderKL(vae_config)
    z = jax.ShapeDtypeStruct((1, latent_height, latent_width, vae_config.embed_dim), jnp.dtype(vae_config.dtype))
    lowered = jax.jit(lambda p, z: model.apply({"params": p}, z, method=AutoencoderKL.decode)).lower(
        vae_param_shapes(vae_config), z)
    analysis = lowered.cost_analysis()
    if isinstance(analysis, (list, tuple)):
        analysis = analysis[0]
    return float(analysis["flops"])


def _process_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_device_bytes() -> int | None:
    stats = jax.devices()[0].memory_stats() if hasattr(jax.devices()[0], "memory_stats") else None
    return int(stats["peak_bytes_in_use"]) if stats and "peak_bytes_in_use" in stats else None


def environment() -> dict:
    return {**report.machine_info(), "torch": report.package_version("torch")}


def attention_info(bundle, height: int, width: int, frames: int) -> dict:
    """The requested attention implementation and what it resolves to for the largest attentions."""
    requested = bundle.unet_config.attention
    tokens = (height // 8) * (width // 8)
    dtype = jnp.dtype(bundle.dtype)
    return {"requested": requested,
            "spatial_self_attention": resolve_implementation(requested, tokens, tokens, dtype),
            "temporal_attention": resolve_implementation(requested, frames, frames, dtype),
            "spatial_tokens": tokens}


def one_generation(bundle, prompts, *, steps, frames, height, width, fps, guidance, seed, vae_chunk):
    """One whole generation, each stage timed after ``block_until_ready`` → (seconds per stage, float video)."""
    timings: dict = {}
    begin = time.perf_counter()
    context = jax.block_until_ready(bundle.encode_text(prompts))
    text_s = time.perf_counter() - begin
    latents, noise = bundle.initial_noise(len(prompts), steps=steps, frames=frames, height=height, width=width,
                                          seed=seed)
    denoised = bundle.sample_latents(context, latents, noise, steps=steps, fps=fps, guidance=guidance,
                                     timings=timings)
    video = bundle.decode(denoised, chunk_size=vae_chunk, timings=timings)
    to_uint8(video)
    return {"text": text_s, "unet_loop": timings["unet"], "unet_step": timings["unet"] / steps,
            "vae_decode": timings["vae"], "end_to_end": time.perf_counter() - begin,
            "compile_during_run": timings["compile"]}, np.asarray(video, np.float32)


def float32_reference(args, bundle, prompts, kw, video, log):
    """The float32 bundle and its video of the same seed and weights: the timed ones when they are float32,
    else a float32 load and one untimed generation (the reference of the bfloat16 error)."""
    if bundle.dtype == "float32":
        return bundle, video
    log("generating the same video in float32 (untimed, the reference of the bfloat16 error) ...")
    reference = load_bundle(args, "float32")
    _, reference_video = one_generation(reference, prompts, **kw)
    return reference, reference_video


def official_reference(args, reference, prompts, kw, jax_stages, log) -> tuple[dict, dict]:
    """The whole generation through the official PyTorch modules (float32 weights of ``reference``),
    float32 and bf16 autocast → (the result's ``torch_reference`` entry, the last video per precision)."""
    log(f"building the official PyTorch modules from {args.torch_reference} ...")
    try:
        pipe = torch_reference.OfficialPipeline.build(args.torch_reference, reference, kw["steps"],
                                                      threads=args.torch_threads)
    except official.OfficialCodeError as err:  # a checkpoint's U-Net without official counterpart, an import
        raise BenchmarkError(str(err)) from None
    latents, noise = reference.initial_noise(len(prompts), steps=kw["steps"], frames=args.frames, height=args.height,
                                             width=args.width, seed=args.seed)
    stages, videos = torch_reference.time_precisions(
        pipe, prompts, np.asarray(latents), np.asarray(noise), fps=args.fps, guidance=kw["guidance"],
        warmup=args.warmup, repeats=args.repeats, log=log)
    entry = {"code_dir": official.official_root(args.torch_reference), **pipe.describe(),
             "stages": stages, "ratios": torch_reference.compare(jax_stages, stages)}
    return entry, videos


def run(args) -> dict:
    """Measure, write ``<stem>.json`` and ``<stem>.md``, return the result."""
    check_arguments(args)
    args.dtype = hardware.resolve_dtype(args.dtype)
    cache_dir = None if args.no_compilation_cache else os.path.abspath(args.compilation_cache)
    setup_compilation_cache(cache_dir)
    env = environment()
    env["load_average_at_start"] = env.pop("load_average")
    cache_before = _cache_entries(cache_dir)

    log = lambda msg: print(f"[bench latency] {msg}", flush=True)  # noqa: E731
    begin = time.perf_counter()
    bundle = load_bundle(args, args.dtype)
    load_s = time.perf_counter() - begin
    label = args.model or os.path.basename(os.path.normpath(args.checkpoint))
    teacher = bundle.teacher
    try:
        steps = bundle.sampler(args.steps).steps
    except ValueError as err:
        raise BenchmarkError(f"--steps: {err}") from None
    guidance = args.guidance if args.guidance is not None else bundle.default_sampler.guidance
    prompts = [args.prompt] if args.batch == 1 else [f"{args.prompt}, take {i + 1}" for i in range(args.batch)]
    params = {name: count_params(tree) for name, tree in bundle.params.items()}
    log(f"loaded {label} ({'teacher DDIM + CFG' if teacher else 'LCM student'}, "
        f"{sum(params.values()):,} parameters) in {load_s:.1f} s")

    # Compilation, before anything is timed. The text tower is jitted inside the pipeline, so its compile
    # time is its first call minus a warm call.
    begin = time.perf_counter()
    jax.block_until_ready(bundle.encode_text(prompts))
    text_first_s = time.perf_counter() - begin
    begin = time.perf_counter()
    jax.block_until_ready(bundle.encode_text(prompts))
    text_warm_s = time.perf_counter() - begin
    log(f"text tower: first call {text_first_s:.2f} s, warm call {text_warm_s:.3f} s; compiling the sampler "
        f"and the VAE decode for {args.batch}x{args.frames}x{args.height}x{args.width}, {steps} steps ...")
    programs = bundle.precompile(args.batch, steps=steps, frames=args.frames, height=args.height,
                                 width=args.width, vae_chunk=args.vae_chunk)
    begin = time.perf_counter()  # the small programs drawing the initial noise
    jax.block_until_ready(bundle.initial_noise(args.batch, steps=steps, frames=args.frames, height=args.height,
                                               width=args.width, seed=args.seed))
    compile_s = {"text_encoder": max(text_first_s - text_warm_s, 0.0), "sampling_loop": programs["sample"],
                 "vae_decode": programs["decode"], "initial_noise (first call)": time.perf_counter() - begin}
    log(f"compiled: sampling loop {programs['sample']:.1f} s, VAE decode {programs['decode']:.1f} s")

    lat_h, lat_w = args.height // 8, args.width // 8
    unet_batch = args.batch * (2 if teacher else 1)
    flops = {"unet_forward": forward_flops(bundle.unet_config, args.frames, lat_h, lat_w, batch=unet_batch,
                                           context_len=bundle.text_config.context_length)}
    flops["unet_loop"] = flops["unet_forward"] * steps
    flops["vae_decode"] = vae_decode_flops(bundle.vae_config, lat_h, lat_w) * args.batch * args.frames
    flops["end_to_end"] = flops["unet_loop"] + flops["vae_decode"]
    log(f"FLOPs: U-Net forward {flops['unet_forward'] / 1e12:.2f} T (batch {unet_batch}), "
        f"VAE decode {flops['vae_decode'] / 1e12:.2f} T")

    kw = dict(steps=steps, frames=args.frames, height=args.height, width=args.width, fps=args.fps,
              guidance=guidance, seed=args.seed, vae_chunk=args.vae_chunk)
    runs = []
    cpu_begin, wall_begin = _process_cpu_s(), time.perf_counter()
    for index in range(args.warmup + args.repeats):
        record, video = one_generation(bundle, prompts, **kw)
        timed = index >= args.warmup
        if timed:
            runs.append(record)
        log(f"{'timed' if timed else 'warm-up'} run {index + 1}/{args.warmup + args.repeats}: "
            f"text {record['text']:.3f} s, U-Net {record['unet_step']:.3f} s/step, "
            f"VAE {record['vae_decode']:.2f} s, end to end {record['end_to_end']:.2f} s")
    # CPU seconds this process got per wall second of the runs: how much of the machine it had
    runs_cpu_share = (_process_cpu_s() - cpu_begin) / (time.perf_counter() - wall_begin)
    stages = {name: summary([r[name] for r in runs])
              for name in ("text", "unet_step", "unet_loop", "vae_decode", "end_to_end")}
    for name, flop_key in (("unet_step", "unet_forward"), ("unet_loop", "unet_loop"), ("vae_decode", "vae_decode"),
                           ("end_to_end", "end_to_end")):
        stages[name]["flops"] = flops[flop_key]
        stages[name]["tflops_per_s"] = flops[flop_key] / stages[name]["median_s"] / 1e12

    result = {
        "what": "text-to-video generation latency by stage (hummingbird_jax.inference.TextToVideo)",
        "setup": {"model": label, "source": "random-init" if args.random_init else os.path.abspath(args.checkpoint),
                  "teacher": teacher, "sampler": "DDIM + classifier-free guidance" if teacher else "LCM multistep",
                  "steps": steps, "guidance": guidance, "batch": args.batch, "frames": args.frames,
                  "height": args.height, "width": args.width, "fps": args.fps, "dtype": args.dtype,
                  "vae_chunk": args.vae_chunk, "warmup": args.warmup, "repeats": args.repeats,
                  "compilation_cache": cache_dir, "unet_time_cond_proj_dim": bundle.unet_config.time_cond_proj_dim},
        "parameters": params,
        "attention": attention_info(bundle, args.height, args.width, args.frames),
        "load_s": load_s,
        "compile_s": compile_s,
        "compilation_cache_entries": {"before": cache_before, "after": _cache_entries(cache_dir)},
        "stages": stages,
        "flops": flops,
        "peak_device_bytes": peak_device_bytes(),
        "peak_host_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "runs_process_cpu_seconds_per_second": runs_cpu_share,
        "environment": env,
        "accuracy": {"measure": "max|video - reference| / max|reference| of the decoded float videos"},
        "torch_reference": None,
        "notes": args.notes,
    }
    accuracy = result["accuracy"]
    if args.dtype != "float32" or args.torch_reference:
        reference, reference_video = float32_reference(args, bundle, prompts, kw, video, log)
        if args.dtype != "float32":
            accuracy["bf16_max_error_vs_fp32"] = report.relative_error(video, reference_video)
            log(f"bfloat16 video vs float32: max error {accuracy['bf16_max_error_vs_fp32']:.2e} of max|float32|")
    if args.torch_reference:
        result["torch_reference"], official_videos = official_reference(args, reference, prompts, kw, stages, log)
        official_fp32 = official_videos["float32"]
        accuracy["jax_max_error_vs_official_fp32"] = report.relative_error(video, official_fp32)
        if args.dtype != "float32":
            accuracy["jax_fp32_max_error_vs_official_fp32"] = report.relative_error(reference_video, official_fp32)
        accuracy["official_bf16_max_error_vs_official_fp32"] = report.relative_error(official_videos["bfloat16"],
                                                                                     official_fp32)
        log("video errors: " + ", ".join(f"{k} {v:.2e}" for k, v in accuracy.items() if k != "measure"))
    env["load_average_at_end"] = report.load_average()

    json_path, md_path = report.write_results(args.name or default_name(result), result, markdown(result), args.out)
    log(f"wrote {json_path} and {md_path}")
    return result


# ---- report ----------------------------------------------------------------------------------------
def default_name(result: dict) -> str:
    s = result["setup"]
    batch = "" if s["batch"] == 1 else f"_b{s['batch']}"
    return (f"latency_{s['model']}_{s['frames']}x{s['height']}x{s['width']}_{s['steps']}steps_{s['dtype']}"
            f"{batch}_{result['environment']['backend']}")


def markdown(result: dict) -> str:
    s, env, st, att = result["setup"], result["environment"], result["stages"], result["attention"]
    gib = lambda b: "n/a" if b is None else f"{b / 2**30:.2f} GiB"  # noqa: E731
    lines = [
        f"# Generation latency: {s['model']} ({s['sampler']}, {s['steps']} steps), batch {s['batch']}, "
        f"{s['frames']}x{s['height']}x{s['width']}, {s['dtype']}",
        "",
        f"Device: {env['device_kind']} ({env['backend']}; {env['cpu']}, {env['cpu_count']} CPUs, {env['memory_gib']} GiB RAM, "
        f"{env['platform']}); load average (1/5/15 min) {env['load_average_at_start']} at start, "
        f"{env['load_average_at_end']} at end. jax {env['jax']}, jaxlib {env['jaxlib']}, flax {env['flax']}"
        + "".join(f", {k} {v}" for k, v in env["plugins"].items()) + ".",
        f"Attention: `{att['requested']}` → `{att['spatial_self_attention']}` for spatial self-attention "
        f"({att['spatial_tokens']} tokens), `{att['temporal_attention']}` for temporal attention.",
        f"Weights: {s['source']}; parameters: " + ", ".join(f"{k} {v:,}" for k, v in result["parameters"].items())
        + f". Timed: median/min/max of {s['repeats']} whole generation(s) after {s['warmup']} warm-up run(s)"
        + (" (the timed run is the first after compilation)" if s["warmup"] == 0 else "") + ".",
        "",
        "| stage | median (s) | min (s) | max (s) | GFLOP | achieved TFLOP/s |",
        "|---|---|---|---|---|---|",
        f"| load ({'random init' if s['source'] == 'random-init' else 'checkpoint'}) | {result['load_s']:.2f} | | | | |",
    ]
    for name, seconds in result["compile_s"].items():
        lines.append(f"| compile: {name.replace('_', ' ')} | {seconds:.2f} | | | | |")
    titles = {"text": "text encoding", "unet_step": f"U-Net step (batch {s['batch'] * (2 if s['teacher'] else 1)})",
              "unet_loop": f"U-Net loop ({s['steps']} steps)", "vae_decode": f"VAE decode ({s['frames']} frames)",
              "end_to_end": "end to end (text + loop + decode)"}
    for name, title in titles.items():
        row = st[name]
        flops = f"{row['flops'] / 1e9:,.1f}" if "flops" in row else ""
        rate = f"{row['tflops_per_s']:.3f}" if "tflops_per_s" in row else ""
        lines.append(f"| {title} | {row['median_s']:.3f} | {row['min_s']:.3f} | {row['max_s']:.3f} | {flops} | {rate} |")
    cache = result["compilation_cache_entries"]
    share = result.get("runs_process_cpu_seconds_per_second")
    if share is not None:
        lines += ["", f"During the timed runs this process used {share:.2f} CPU-seconds per second "
                  f"(of {env['cpu_count']} cores; the rest went to other processes or idled)."]
    lines += ["", f"Peak device memory: {gib(result['peak_device_bytes'])} (backend report); peak host RSS "
              f"{gib(result['peak_host_rss_bytes'])}. Compilation cache: "
              + (f"`{s['compilation_cache']}`, {cache['before']} → {cache['after']} files."
                 if s["compilation_cache"] else "off.")]
    if result.get("notes"):
        lines += ["", f"Notes: {result['notes']}"]
    if result.get("torch_reference"):
        lines += torch_reference.markdown(result)
    errors = {k: v for k, v in result["accuracy"].items() if k != "measure"}
    if errors:
        lines += ["", f"Video errors ({result['accuracy']['measure']}): "
                  + ", ".join(f"`{k}` {v:.2e}" for k, v in errors.items()) + "."]
    return "\n".join(lines) + "\n"


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(ap)
    return ap.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    try:
        return run(args)
    except BenchmarkError as err:
        raise SystemExit(f"latency: {err}") from None


if __name__ == "__main__":
    main()
