"""``hummingbird generate``: prompts → H.264 mp4 files (and GIF previews), with a timing breakdown."""

from __future__ import annotations

import re
import time
from pathlib import Path

from tqdm import tqdm

from hummingbird_jax import hardware, registry, video_io
from hummingbird_jax.diffusion.sampling import DEFAULT_FPS, DEFAULT_FRAMES, DEFAULT_SIZE
from hummingbird_jax.errors import CommandError
from hummingbird_jax.inference import TextToVideo, check_generation_args
from hummingbird_jax.model_dir import resolve_unet_config

_STUDENT, _TEACHER = registry.STUDENT_SAMPLER, registry.TEACHER_SAMPLER


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "generate",
        help="generate videos from text prompts",
        description="Generate videos from text. Writes OUT/<slug>.mp4 (H.264) and OUT/<slug>.gif per prompt. "
        "Height and width must be multiples of 64.",
    )
    p.add_argument("prompt", nargs="?", help="the prompt (or use --prompts-file)")
    p.add_argument("--prompts-file", type=Path, help="text file with one prompt per line")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--checkpoint", type=Path,
                        help="official full checkpoint (.ckpt/.pt/.safetensors) or a converted JAX directory "
                        "('hummingbird convert torch-to-jax' of a full checkpoint)")
    source.add_argument("--random-init", choices=list(registry.UNETS), metavar="PRESET",
                        help=f"random weights for a U-Net with its VAE and text tower ({', '.join(registry.UNETS)}): "
                        "smoke runs, benchmarks")
    p.add_argument("--config", help="the checkpoint's YAML, or a preset name (default: recognised from its keys)")
    p.add_argument("--teacher", action="store_true",
                   help="sample as the VideoCrafter2 teacher: DDIM with classifier-free guidance (a teacher "
                   "preset of --random-init, such as vc2, samples so without it)")
    p.add_argument("--steps", type=int,
                   help=f"sampling steps (default {_STUDENT.steps}; {_TEACHER.steps} for a teacher)")
    p.add_argument("--frames", type=int, default=DEFAULT_FRAMES, help="frames per video (default %(default)s)")
    p.add_argument("--height", type=int, default=DEFAULT_SIZE[0],
                   help="height in pixels, a multiple of 64 (default %(default)s)")
    p.add_argument("--width", type=int, default=DEFAULT_SIZE[1],
                   help="width in pixels, a multiple of 64 (default %(default)s)")
    p.add_argument("--fps", type=int, default=DEFAULT_FPS, help="fps conditioning and output frame rate (default %(default)s)")
    p.add_argument("--guidance", type=float,
                   help=f"guidance scale (default {_STUDENT.guidance:g}; {_TEACHER.guidance:g} for a teacher)")
    p.add_argument("--seed", type=int, default=0, help="random seed, >= 0 (default %(default)s)")
    p.add_argument("--batch-size", type=int, default=1, help="prompts per model call (default %(default)s)")
    p.add_argument("--dtype", choices=hardware.DTYPE_CHOICES, default="auto",
                   help=f"compute dtype (default %(default)s; {hardware.AUTO_DTYPE_HELP})")
    p.add_argument("--vae-chunk", type=int, default=1, help="frames decoded by the VAE at once (default %(default)s)")
    p.add_argument("--out", type=Path, default=Path("outputs"), help="output directory (default %(default)s)")
    p.set_defaults(func=run)


def slugify(prompt: str, max_len: int = 60) -> str:
    """A file-name-safe, readable stem for a prompt."""
    slug = re.sub(r"[^a-z0-9]+", "-", prompt.lower()).strip("-")[:max_len].rstrip("-")
    return slug or "video"


def unique_stems(prompts: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    stems = []
    for prompt in prompts:
        stem = slugify(prompt)
        seen[stem] = seen.get(stem, 0) + 1
        stems.append(stem if seen[stem] == 1 else f"{stem}-{seen[stem]}")
    return stems


def read_prompts(args) -> list[str]:
    prompts = [args.prompt] if args.prompt else []
    if args.prompts_file is not None:
        try:
            lines = args.prompts_file.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            raise CommandError(f"prompts file not found: {args.prompts_file}") from None
        except (UnicodeDecodeError, IsADirectoryError) as err:
            raise CommandError(f"prompts file {args.prompts_file} is not a UTF-8 text file ({err})") from None
        from_file = [line.strip() for line in lines if line.strip()]
        if not from_file:
            raise CommandError(f"prompts file {args.prompts_file} has no prompts (one per line expected)")
        prompts += from_file
    if not prompts:
        raise CommandError("give a prompt or --prompts-file")
    return prompts


def validate(args) -> list[str]:
    """Everything checkable before loading or compiling anything."""
    prompts = read_prompts(args)
    if args.checkpoint is None and args.random_init is None:
        raise CommandError("give --checkpoint PATH or --random-init PRESET")
    if args.checkpoint is not None and not args.checkpoint.exists():
        raise CommandError(f"checkpoint not found: {args.checkpoint}")
    if args.checkpoint is not None and args.checkpoint.suffix in (".yaml", ".yml"):
        raise CommandError(f"--checkpoint {args.checkpoint} is a YAML config; give it with --config and the "
                           "weights with --checkpoint")
    if args.config is not None and args.config.endswith((".yaml", ".yml")):
        resolve_unet_config(args.config)  # a broken or foreign YAML fails here, naming the file
    for name in ("steps", "batch_size", "vae_chunk"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise CommandError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    if args.seed < 0:
        raise CommandError(f"--seed must be >= 0, got {args.seed}")
    if args.out.exists() and not args.out.is_dir():
        raise CommandError(f"--out {args.out} exists and is not a directory (expected an output directory)")
    try:
        check_generation_args(len(prompts), args.frames, args.height, args.width, args.fps)
    except ValueError as err:
        raise CommandError(f"--frames/--height/--width/--fps: {err}") from None
    args.dtype = hardware.resolve_dtype(args.dtype)
    return prompts


def load(args):
    if args.random_init is not None:
        return TextToVideo.random_init(args.random_init, seed=args.seed, teacher=args.teacher or None,
                                       dtype=args.dtype)
    if args.checkpoint.is_dir():
        return TextToVideo.from_directory(args.checkpoint, teacher=args.teacher or None, dtype=args.dtype)
    return TextToVideo.from_checkpoint(args.checkpoint, args.config, teacher=args.teacher, dtype=args.dtype)


def run(args) -> int:
    prompts = validate(args)
    start = time.perf_counter()
    try:
        bundle = load(args)
    except (ValueError, KeyError, FileNotFoundError) as err:  # unreadable checkpoint, directory or config
        raise CommandError(str(err)) from None
    timings = {"load": time.perf_counter() - start}
    try:
        steps = bundle.sampler(args.steps).steps
    except ValueError as err:
        raise CommandError(f"--steps: {err}") from None
    mode = "teacher DDIM + CFG" if bundle.teacher else "LCM student"
    factor = bundle.vae_config.downsample_factor  # the latent is height / 8; the VAE decides the pixels
    height, width = args.height // 8 * factor, args.width // 8 * factor
    print(f"{len(prompts)} prompt(s), {args.frames}×{height}×{width}, {steps} steps ({mode}), "
          f"{args.dtype}", flush=True)
    stems = unique_stems(prompts)
    args.out.mkdir(parents=True, exist_ok=True)
    timings["write"] = 0.0
    with tqdm(total=len(prompts), desc="generate", unit="video") as bar:
        for first in range(0, len(prompts), args.batch_size):
            batch = prompts[first:first + args.batch_size]
            videos = bundle.generate(batch, steps=steps, frames=args.frames, height=args.height, width=args.width,
                                     fps=args.fps, guidance=args.guidance, seed=args.seed, timings=timings,
                                     vae_chunk=args.vae_chunk, first_index=first)
            begin = time.perf_counter()
            for stem, video in zip(stems[first:first + len(batch)], videos):
                video_io.write_mp4(args.out / f"{stem}.mp4", video, fps=args.fps)
                video_io.write_gif(args.out / f"{stem}.gif", video, fps=args.fps)
            timings["write"] += time.perf_counter() - begin
            bar.update(len(batch))
    total = time.perf_counter() - start
    batches = -(-len(prompts) // args.batch_size)
    per_step = timings["unet"] / (steps * batches)
    print(f"timings (s): load {timings['load']:.2f} | compile {timings['compile']:.2f} | text {timings['text']:.2f} | "
          f"U-Net {timings['unet']:.2f} ({per_step:.3f}/step) | VAE {timings['vae']:.2f} | "
          f"write {timings['write']:.2f} | total {total:.2f}")
    for stem in stems:
        print(args.out / f"{stem}.mp4")
    return 0
