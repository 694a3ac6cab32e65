"""``hummingbird data encode``: pre-encode a manifest's clips into a TFDS latent dataset.

Registered into the ``data`` command group by :mod:`hummingbird_jax.commands.data`; the leading underscore
keeps the CLI's discovery of ``commands/`` from registering it as a top-level command.
"""

from __future__ import annotations

import argparse
import functools

from hummingbird_jax import data  # lazy facade: the encoder (Grain, TFDS) loads on first use, not on --help
from hummingbird_jax.convert.rules import ConversionError
from hummingbird_jax.data.manifest import Manifest, ManifestError
from hummingbird_jax.data.ray_cluster import RayOptions, RayUnavailable
from hummingbird_jax.diffusion.sampling import DEFAULT_SIZE
from hummingbird_jax.errors import CommandError
from hummingbird_jax.hardware import DTYPES


def register(data_subparsers) -> None:
    p = data_subparsers.add_parser(
        "encode",
        help="encode fixed clips of a manifest with the frozen VAE (and text tower) into a TFDS dataset",
        description="Each manifest row becomes one clip of --frames frames --stride apart (from frame "
        "--skip-first when the video is long enough), encoded by the VAE into bf16 posterior moments, "
        "with its OpenCLIP tokens (and, with --text-context, the text encoder's output). Output: a "
        "versioned TFDS dataset in ArrayRecord format under OUT/hummingbird_latents/. Re-running the "
        "same command resumes: finished chunks are kept.",
    )
    p.add_argument("manifest", help="CSV or Parquet with path,text (optional fps)")
    p.add_argument("--model", required=True,
                   help="converted model directory (with vae/ and text_encoder/) or a PyTorch/safetensors checkpoint")
    p.add_argument("--config", default=None,
                   help="official YAML giving the VAE shape of a checkpoint (default: SD KL-f8)")
    p.add_argument("--frames", type=int, required=True, help="frames per clip")
    p.add_argument("--stride", type=int, required=True, help="frame stride within a clip (fps = fps_orig // stride)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--size", type=int, nargs=2, default=DEFAULT_SIZE, metavar=("H", "W"),
                   help=f"clip size (default {DEFAULT_SIZE[0]} {DEFAULT_SIZE[1]})")
    p.add_argument("--skip-first", type=int, default=0, help="start at this frame when the video is long enough")
    p.add_argument("--posterior", choices=("moments", "mean"), default="moments",
                   help="store mean and logvar (train on fresh posterior samples) or the mean only (half the size)")
    p.add_argument("--text-context", action="store_true", help="also store the text encoder's context (77×D, bf16)")
    p.add_argument("--text-heads", type=int, default=None, help="attention heads of the text tower (default width / 64)")
    p.add_argument("--batch-size", type=int, default=4, help="clips per accelerator call (default 4)")
    p.add_argument("--frame-chunk", type=int, default=8, help="frames through the VAE at once (memory; default 8)")
    p.add_argument("--chunk-size", type=int, default=256, help="manifest rows per resumable chunk (default 256)")
    p.add_argument("--dtype", choices=DTYPES, default="float32", help="VAE compute dtype")
    p.add_argument("--workers", type=int, default=0, help="video decoding processes (0: in this process)")
    p.add_argument("--keep-chunks", action="store_true", help="keep OUT/encoding/chunks after the dataset is written")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    group = p.add_argument_group("engine", "ray: chunks encoded by a pool of Ray actors, same dataset")
    group.add_argument("--engine", choices=("local", "ray"), default="local", help="local (default) or ray")
    group.add_argument("--ray-address", default=None,
                       help="join a running cluster: 'auto' or HOST:PORT (default: $RAY_ADDRESS, else a local Ray)")
    group.add_argument("--actors", type=int, default=None, help="ray: encoder actors (default: one per GPU, or 1)")
    group.add_argument("--num-gpus", type=float, default=None, help="ray: GPUs per actor (default 1 if the cluster has GPUs)")
    group.add_argument("--num-cpus", type=float, default=None, help="ray: CPUs per actor (default 1)")
    p.set_defaults(func=run_encode)


def _validate(args: argparse.Namespace) -> None:
    if args.frames < 1 or args.stride < 1:
        raise CommandError(f"--frames and --stride must be >= 1 (got {args.frames}, {args.stride})")
    if args.batch_size < 1 or args.chunk_size < 1 or args.frame_chunk < 1:
        raise CommandError("--batch-size, --chunk-size and --frame-chunk must be >= 1")
    if any(s < 8 or s % 8 for s in args.size):
        raise CommandError(f"--size {args.size[0]} {args.size[1]}: both must be positive multiples of 8 (VAE downsampling)")
    if args.config is not None and not args.config.endswith((".yaml", ".yml")):
        raise CommandError(f"--config {args.config!r}: expected the official .yaml")
    if any(v is not None and v <= 0 for v in (args.actors, args.num_cpus)) or (args.num_gpus or 0) < 0:
        raise CommandError("--actors and --num-cpus must be positive, --num-gpus >= 0")


def _engine_kwargs(args: argparse.Namespace, load) -> dict:
    """``engine``, ``encoder_factory`` (the same loader, run inside each actor) and ``ray``."""
    if args.engine != "ray":
        return {}
    options = RayOptions(address=args.ray_address, num_cpus=args.num_cpus, num_gpus=args.num_gpus, actors=args.actors)
    return dict(engine="ray", encoder_factory=load, ray=options)


def run_encode(args: argparse.Namespace) -> int:
    _validate(args)
    load = functools.partial(
        data.load_frozen_encoders, args.model, config=args.config, text_context=args.text_context,
        text_heads=args.text_heads, dtype=args.dtype, frame_chunk=args.frame_chunk,
    )
    try:
        Manifest(args.manifest)  # check the table before loading models
        # Config and checkpoint problems are ValueErrors naming the file and the field.
        encoder = load()
    except (ManifestError, ConversionError, ValueError, KeyError) as err:
        raise CommandError(str(err)) from None
    try:
        summary = data.encode_manifest(
            args.manifest, args.out, encoder, frames=args.frames, stride=args.stride, size=tuple(args.size),
            skip_first=args.skip_first, posterior=args.posterior, text_context=args.text_context,
            batch_size=args.batch_size, chunk_size=args.chunk_size, num_workers=args.workers,
            keep_chunks=args.keep_chunks, progress=not args.no_progress, **_engine_kwargs(args, load),
        )
    except (data.EncodeError, RayUnavailable) as err:
        raise CommandError(str(err)) from None
    print(data.encode_summary_line(summary))
    return 0
