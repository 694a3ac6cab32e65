"""``hummingbird data …``: the curation stages (ingest, split, quality, motion, recaption, filter, run).

Every stage reads a manifest (CSV or Parquet, at least ``path,text``) and writes a new one with
added columns; re-running a command resumes from ``OUT.journal.jsonl``.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys

from hummingbird_jax.commands import _data_encode
from hummingbird_jax.curation import (
    FilterConfigError,
    ManifestError,
    MotionStage,
    RecaptionStage,
    SceneSplitStage,
    ingest,
    run_curation,
    run_stage,
)
from hummingbird_jax.curation.filter import format_summary, run_filter
from hummingbird_jax.curation.probe import VIDEO_EXTENSIONS
from hummingbird_jax.curation.quality import QualityError, QualityStage
from hummingbird_jax.curation.recaption import DEFAULT_MODEL
from hummingbird_jax.data.ray_cluster import RayOptions, RayUnavailable, parse_stage_resources
from hummingbird_jax.errors import CommandError

DEFAULT_WORKERS = max(1, min(4, os.cpu_count() or 1))


def _user_errors(handler):
    """Turns manifest/config problems into one-line CLI errors; Ctrl-C says how to resume."""

    @functools.wraps(handler)
    def wrapped(args):
        try:
            return handler(args)
        except (ManifestError, FilterConfigError, RayUnavailable) as err:
            raise CommandError(str(err)) from err
        except KeyboardInterrupt:
            print("interrupted: finished rows are in the journal; run the same command again to resume",
                  file=sys.stderr)
            return 130

    return wrapped


def _common(parser: argparse.ArgumentParser, workers: bool = True) -> None:
    if workers:
        parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS,
                            help=f"processes for CPU stages (default {DEFAULT_WORKERS}; 1 = in this process)")
    parser.add_argument("--restart", action="store_true", help="ignore the journal and recompute every row")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    _engine_options(parser)


def _engine_options(parser):
    group = parser.add_argument_group("engine", "where rows are computed: hummingbird_jax/curation/ray_engine.py")
    group.add_argument("--engine", choices=["local", "ray"], default="local",
                       help="local: this machine's process pool (default); ray: Ray Data on a local or existing cluster")
    group.add_argument("--ray-address", default=None,
                       help="join a running cluster: 'auto' or HOST:PORT (default: $RAY_ADDRESS, else a local Ray)")
    group.add_argument("--num-cpus", type=float, default=None, help="ray: CPUs per task/actor (default 1)")
    group.add_argument("--num-gpus", type=float, default=None,
                       help="ray: GPUs per task/actor (default 1 for model stages on a cluster with GPUs, else 0)")
    group.add_argument("--actors", type=int, default=None,
                       help="ray: actor pool size / concurrent tasks (default: as many as the resources allow)")
    group.add_argument("--rows-per-task", type=int, default=None,
                       help="ray: rows per task or actor call, the unit committed to the journal (default 8; "
                       "model stages: their batch size)")
    group.add_argument("--stage-resources", action="append", default=None, metavar="STAGE:KEY=VALUE[,KEY=VALUE]",
                       help="ray: resources of one stage, e.g. motion:num_cpus=2,actors=8 or recaption:num_gpus=1 "
                       "(repeatable; keys num_cpus, num_gpus, actors, rows_per_task)")


def _engine_kwargs(args):
    """``engine=`` and ``ray=`` for ``run_stage``/``run_curation`` from the engine flags."""
    if args.engine != "ray":
        return dict(engine="local")
    try:
        stages = parse_stage_resources(args.stage_resources)
    except ValueError as err:
        raise CommandError(str(err)) from err
    for flag in ("num_cpus", "num_gpus", "actors", "rows_per_task"):
        value = getattr(args, flag)
        if value is not None and value <= 0 and not (flag == "num_gpus" and value == 0):
            raise CommandError(f"--{flag.replace('_', '-')} must be positive, got {value}")
    return dict(engine="ray", ray=RayOptions(address=args.ray_address, num_cpus=args.num_cpus, num_gpus=args.num_gpus,
                                             actors=args.actors, rows_per_task=args.rows_per_task, stages=stages))


# The motion stage's options: (flag, type, MotionStage argument whose default it shows, help).
_MOTION_OPTIONS = (
    ("--pairs", int, "pairs", "frame pairs per clip"),
    ("--gap", int, "gap", "frames between the two frames of a pair"),
    ("--flow-width", int, "width", "analysis width in pixels"),
    ("--camera-min", float, "camera_min", "camera motion threshold, fraction of frame width per frame"),
    ("--moving-area-min", float, "moving_area_min", "moving-pixel fraction for object_motion"),
    ("--dolly-ratio", float, "dolly_ratio", "centre/edge zoom ratio below which a zoom is a dolly zoom"),
)


def _motion_options(parser):
    group = parser.add_argument_group("motion", "method and thresholds: hummingbird_jax/curation/motion.py")
    for flag, kind, argument, text in _MOTION_OPTIONS:
        group.add_argument(flag, type=kind, default=MotionStage.default(argument), help=f"{text} (default %(default)s)")


def _recaption_options(parser, required_model: bool = False):
    group = parser.add_argument_group("recaption")
    group.add_argument("--model", default=DEFAULT_MODEL,
                       help=f"local model directory or cached name (default {DEFAULT_MODEL}; never downloaded)")
    group.add_argument("--batch-size", type=int, default=RecaptionStage.default("batch_size"),
                       help="captions generated together (default %(default)s)")
    group.add_argument("--max-new-tokens", type=int, default=RecaptionStage.default("max_new_tokens"))
    group.add_argument("--min-words", type=int, default=RecaptionStage.default("min_words"),
                       help="shorter outputs fall back (default %(default)s)")
    group.add_argument("--max-words", type=int, default=RecaptionStage.default("max_words"),
                       help="longer outputs fall back (default %(default)s)")
    group.add_argument("--no-motion-hint", action="store_true", help="do not tell the model the camera label")
    group.add_argument("--device", default=None, help="torch device (default cuda if available, else cpu)")
    group.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"])


def _motion_kwargs(args):
    return dict(pairs=args.pairs, gap=args.gap, width=args.flow_width, camera_min=args.camera_min,
                moving_area_min=args.moving_area_min, dolly_ratio=args.dolly_ratio)


def _recaption_kwargs(args):
    return dict(model=args.model, batch_size=args.batch_size, max_new_tokens=args.max_new_tokens,
                min_words=args.min_words, max_words=args.max_words, use_motion_hint=not args.no_motion_hint,
                device=args.device, dtype=args.dtype)


def _extensions(text):
    return tuple(e.strip() if e.strip().startswith(".") else f".{e.strip()}" for e in text.split(",") if e.strip())


def _run(args, stage):
    workers = getattr(args, "workers", 1)
    summary = run_stage(stage, args.input, args.out, workers=workers, restart=args.restart,
                        progress=not args.no_progress, **_engine_kwargs(args))
    print(summary.format())


@_user_errors
def _ingest(args):
    summary = ingest(args.source, args.out, video_root=args.video_root, extensions=_extensions(args.ext),
                     workers=args.workers, restart=args.restart, progress=not args.no_progress,
                     **_engine_kwargs(args))
    print(summary.format())


@_user_errors
def _split(args):
    _run(args, SceneSplitStage(threshold=args.threshold, min_scene_len=args.min_scene_len, min_frames=args.min_frames))


@_user_errors
def _motion(args):
    _run(args, MotionStage(**_motion_kwargs(args)))


def _recaptioner(args, load: bool = True, hint: str = ""):
    """The recaption stage, its model checked (and loaded when ``load``) now, so a missing or incomplete
    model is one line naming ``--model`` (before any other work) instead of a library's traceback."""
    stage = RecaptionStage(**_recaption_kwargs(args))
    try:
        stage.check_available()
        if load:
            stage.setup()
    except Exception as err:  # noqa: BLE001 -- transformers/sentencepiece raise many types for a bad model
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise CommandError(f"--model {args.model}: no usable local language model and tokenizer there "
                           f"({first[:300]}){hint}") from err
    return stage


@_user_errors
def _recaption(args):
    _run(args, _recaptioner(args))


def _quality_stage(weights, config, batch_size, seed=0):
    """The DOVER stage with its weights loaded now: a missing or mismatched file is one line naming it."""
    if batch_size < 1:
        raise CommandError(f"--batch-size must be at least 1, got {batch_size}")
    stage = QualityStage(weights, config=config, batch_size=batch_size, seed=seed)
    try:
        stage.setup()
    except QualityError as err:
        raise CommandError(str(err)) from err
    return stage


@_user_errors
def _quality(args):
    _run(args, _quality_stage(args.weights, args.dover_config, args.batch_size, args.seed))


@_user_errors
def _filter(args):
    print(format_summary(run_filter(args.input, args.out, args.config, args.report)))


@_user_errors
def _pipeline(args):
    if not args.skip_recaption:
        _recaptioner(args, load=False, hint="; or add --skip-recaption to keep the original captions")
    run_curation(
        args.source, args.out, video_root=args.video_root, extensions=_extensions(args.ext), split=args.split,
        split_options=dict(threshold=args.threshold, min_scene_len=args.min_scene_len, min_frames=args.min_frames),
        motion_options=_motion_kwargs(args), recaption=not args.skip_recaption,
        recaption_options=_recaption_kwargs(args), filter_config=args.config, workers=args.workers,
        restart=args.restart, progress=not args.no_progress, **_engine_kwargs(args),
        quality=_quality_stage(args.dover_weights, args.dover_config, args.dover_batch_size) if args.dover_weights else None,
    )


def _dover_config_option(parser):
    parser.add_argument("--dover-config", default=None,
                        help="the official dover.yml, or dover / dover-mobile (default: recognised from the weights)")


def _source_options(parser):
    parser.add_argument("source", help="a folder of videos, a WebVid CSV, or a manifest with path,text")
    parser.add_argument("--video-root", default=None,
                        help="WebVid: folder holding page_dir/videoid.mp4 (default: the CSV's folder)")
    parser.add_argument("--ext", default=",".join(e.lstrip(".") for e in VIDEO_EXTENSIONS),
                        help="video extensions searched in a folder (comma separated; default %(default)s)")


def _split_options(parser):
    group = parser.add_argument_group("split (PySceneDetect ContentDetector)")
    group.add_argument("--threshold", type=float, default=SceneSplitStage.default("threshold"),
                       help="content-change threshold (default %(default)s)")
    group.add_argument("--min-scene-len", type=int, default=SceneSplitStage.default("min_scene_len"),
                       help="shortest scene in frames (default %(default)s)")
    group.add_argument("--min-frames", type=int, default=SceneSplitStage.default("min_frames"),
                       help="drop clips shorter than this (default %(default)s)")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "data", help="curate training videos (ingest, split, motion, recaption, filter, run) and encode "
        "them to latents (encode)",
        description="Data curation: each stage reads a manifest and writes one with added columns; "
        "re-running resumes from OUT.journal.jsonl.",
    )
    data_sub = parser.add_subparsers(dest="data_command", metavar="STAGE")
    data_sub.required = True

    p = data_sub.add_parser("ingest", help="list and probe videos -> path,text,duration,fps,frames,width,height,codec")
    _source_options(p)
    p.add_argument("--out", required=True, help="output manifest (.csv or .parquet)")
    _common(p)
    p.set_defaults(func=_ingest)

    def stage_parser(name, help_text):
        p = data_sub.add_parser(name, help=help_text)
        p.add_argument("input", help="input manifest (.csv or .parquet) with path,text")
        p.add_argument("--out", required=True, help="output manifest (.csv or .parquet)")
        return p

    p = stage_parser("split", "cut videos into scene clips (start_frame/end_frame) with PySceneDetect")
    _split_options(p)
    _common(p)
    p.set_defaults(func=_split)

    p = stage_parser("motion", "optical-flow motion scores and camera label (static/pan/tilt/zoom/dolly_zoom/…)")
    _motion_options(p)
    _common(p)
    p.set_defaults(func=_motion)

    p = stage_parser("recaption", "rewrite captions with a local instruction-tuned LM")
    _recaption_options(p)
    _common(p, workers=False)
    p.set_defaults(func=_recaption)

    p = stage_parser("quality", "DOVER video quality -> dover_technical, dover_aesthetic, dover_overall in (0, 1)")
    p.add_argument("--weights", required=True, help="DOVER.pth or DOVER-Mobile.pth (you bring it; never downloaded)")
    _dover_config_option(p)
    p.add_argument("--batch-size", type=int, default=QualityStage.default("batch_size"),
                   help="videos per model call (default %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="view-sampling seed (default 0)")
    _common(p, workers=False)
    p.set_defaults(func=_quality)

    p = stage_parser("filter", "apply thresholds from a config -> training manifest + report")
    p.add_argument("--config", default=None, help="YAML/JSON thresholds (default: drop errors and dolly zooms)")
    p.add_argument("--report", default=None, help="report folder (default OUT.report/)")
    p.set_defaults(func=_filter)

    p = data_sub.add_parser("run", help="ingest -> [split] -> motion -> recaption -> filter into one folder")
    _source_options(p)
    p.add_argument("--out", required=True, help="output folder (stage manifests, manifest.csv, report/)")
    p.add_argument("--split", action="store_true", help="also cut scenes into clips")
    p.add_argument("--skip-recaption", action="store_true", help="keep the original captions")
    p.add_argument("--config", default=None, help="filter thresholds (YAML/JSON)")
    p.add_argument("--dover-weights", default=None, help="DOVER.pth: add the quality stage (DOVER scores) after ingest/split")
    _dover_config_option(p)
    p.add_argument("--dover-batch-size", type=int, default=QualityStage.default("batch_size"),
                   help="videos per DOVER call (default %(default)s)")
    _split_options(p)
    _motion_options(p)
    _recaption_options(p)
    _common(p)
    p.set_defaults(func=_pipeline)

    _data_encode.register(data_sub)
