"""``hummingbird eval``: VBench-style scores of a folder of videos (or of videos it generates first),
on the user's weights, offline; writes results.json, results.md (beside the paper's Table 1) and a
bar chart; resumable."""

from __future__ import annotations

import os
import time
from pathlib import Path

from hummingbird_jax import registry, video_io
from hummingbird_jax.convert.rules import ConversionError
from hummingbird_jax.diffusion.sampling import DEFAULT_FPS, DEFAULT_FRAMES, DEFAULT_SIZE
from hummingbird_jax.errors import CommandError, UserError
from hummingbird_jax.evaluation.prompts import prompt_from_filename, read_manifest, read_prompt_list, video_name
from hummingbird_jax.evaluation.runner import clock, resolve_dimensions, run_evaluation
from hummingbird_jax.evaluation.weights import check_weights
from hummingbird_jax.inference import TextToVideo, check_generation_args

_DIMENSIONS_HELP = ("subject_consistency, background_consistency, temporal_flickering, aesthetic_quality, "
                    "temporal_style, overall_consistency")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "eval",
        help="VBench-style video metrics (subject/background consistency, flicker, aesthetics, ViCLIP text-video)",
        description="Score videos on VBench's dimensions with VBench's formulas. VIDEOS is a folder of mp4 files "
        "named '<prompt>-<i>.mp4' (VBench's naming) or described by a --prompts manifest. Weights (--weights DIR): "
        "dino_vitb16.pth, ViT-B-32.pt, ViT-L-14.pt, sa_0_4_vit_l_14_linear.pth, ViClip-InternVid-10M-FLT.pth; "
        "each dimension needs only its own. Re-run the same command to resume.",
    )
    p.add_argument("videos", nargs="?", type=Path, help="folder of mp4 files (omit with --generate)")
    p.add_argument("--prompts", help="prompt list (text file, one per line, or vbench:DIM from the installed vbench "
                   "package) for --generate; or a .csv (path,prompt) / .json {file: prompt} manifest for VIDEOS")
    p.add_argument("--weights", type=Path, help="directory holding the weight files the dimensions need")
    p.add_argument("--dims", help=f"comma-separated dimensions (default: all of {_DIMENSIONS_HELP})")
    p.add_argument("--out", type=Path, required=True, help="output directory (results.json, results.md, results.png)")
    p.add_argument("--generate", metavar="CHECKPOINT",
                   help="generate the videos first (into OUT/videos) from a checkpoint or converted directory; "
                   "'random:PRESET' gives random weights (smoke runs)")
    p.add_argument("--config", help="the checkpoint's YAML or preset name, for --generate")
    p.add_argument("--samples", type=int, default=5, help="videos per prompt with --generate (default %(default)s, as VBench)")
    p.add_argument("--seed", type=int, default=0, help="base seed for --generate; sample i of prompt p uses a fixed "
                   "seed derived from it (default %(default)s)")
    p.add_argument("--steps", type=int, help="sampling steps for --generate (default: the model's sampler, "
                   f"{registry.STUDENT_SAMPLER.steps} for a student, {registry.TEACHER_SAMPLER.steps} for a teacher)")
    p.add_argument("--frames", type=int, default=DEFAULT_FRAMES)
    p.add_argument("--height", type=int, default=DEFAULT_SIZE[0])
    p.add_argument("--width", type=int, default=DEFAULT_SIZE[1])
    p.add_argument("--fps", type=int, default=DEFAULT_FPS)
    p.set_defaults(func=run)


def _folder_videos(folder: Path, manifest_spec: str | None) -> list[tuple[str, str | None]]:
    if not folder.is_dir():
        raise CommandError(f"VIDEOS {folder} is not a folder of mp4 files")
    files = sorted(f for f in os.listdir(folder) if f.lower().endswith(".mp4"))
    if not files:
        raise CommandError(f"VIDEOS {folder} holds no .mp4 files")
    manifest = read_manifest(manifest_spec) if manifest_spec and manifest_spec.endswith((".csv", ".json")) else {}
    return [(str(folder / f), manifest.get(f) or prompt_from_filename(f)) for f in files]


def _generate(args) -> list[tuple[str, str]]:
    """VBench-named videos for every prompt x sample in OUT/videos, skipping those already written."""
    if not args.prompts:
        raise CommandError("--generate needs --prompts (a text file or vbench:DIM)")
    if args.samples < 1:
        raise CommandError(f"--samples must be at least 1, got {args.samples}")
    prompts = read_prompt_list(args.prompts)
    try:
        check_generation_args(1, args.frames, args.height, args.width, args.fps)
    except ValueError as err:
        raise CommandError(f"--frames/--height/--width/--fps: {err}") from None
    folder = args.out / "videos"
    folder.mkdir(parents=True, exist_ok=True)
    jobs = [(p, i, folder / video_name(p, i)) for p in prompts for i in range(args.samples)]
    pending = [job for job in jobs if not job[2].is_file()]
    if pending:
        source = args.generate
        try:
            if source.startswith("random:"):
                bundle = TextToVideo.random_init(source.split(":", 1)[1], seed=args.seed)
            elif os.path.isdir(source):
                bundle = TextToVideo.from_directory(source)
            elif os.path.isfile(source):
                bundle = TextToVideo.from_checkpoint(source, args.config)
            else:
                raise CommandError(f"--generate {source}: not a checkpoint file, a converted directory nor random:PRESET")
        except (ValueError, KeyError) as err:
            raise CommandError(f"--generate {source}: {err}") from None
        print(f"generating {len(pending)} of {len(jobs)} video(s) into {folder}", flush=True)
        start = time.perf_counter()
        for done, (prompt, index, path) in enumerate(pending, 1):
            # One fixed seed per (prompt, sample): the same command regenerates the same videos.
            video = bundle.generate([prompt], steps=args.steps, frames=args.frames, height=args.height,
                                    width=args.width, fps=args.fps, seed=args.seed,
                                    first_index=jobs.index((prompt, index, path)))[0]
            video_io.write_mp4(path, video, fps=args.fps)
            elapsed = time.perf_counter() - start
            print(f"[{done}/{len(pending)}] {path.name} | elapsed {clock(elapsed)}, "
                  f"ETA {clock(elapsed / done * (len(pending) - done))}", flush=True)
    return [(str(path), prompt) for prompt, _, path in jobs]


def run(args) -> int:
    try:
        dimensions = resolve_dimensions(args.dims)
        if args.generate is not None:
            if args.videos is not None:
                raise CommandError("give either VIDEOS or --generate CHECKPOINT, not both")
            check_weights(None if args.weights is None else str(args.weights), dimensions)  # before generating
            videos = _generate(args)
        elif args.videos is None:
            raise CommandError("give VIDEOS (a folder of mp4 files) or --generate CHECKPOINT")
        else:
            videos = _folder_videos(args.videos, args.prompts)
        paths = run_evaluation(videos, dimensions, None if args.weights is None else str(args.weights),
                               str(args.out), log=lambda line: print(line, flush=True))
    except (UserError, ConversionError) as err:
        raise CommandError(str(err).strip("'\"")) from None
    for path in paths.values():
        print(path)
    return 0
