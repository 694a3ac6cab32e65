"""``hummingbird info MODEL``: parameters, per-part breakdown and FLOPs of a U-Net, without weights."""

from __future__ import annotations

from hummingbird_jax.diffusion.sampling import DEFAULT_FPS, DEFAULT_FRAMES, DEFAULT_SIZE
from hummingbird_jax.errors import CommandError
from hummingbird_jax.inference import check_generation_args
from hummingbird_jax.model_dir import resolve_unet_config
from hummingbird_jax.models.unet_stats import forward_flops, parameter_breakdown


def register(subparsers) -> None:
    p = subparsers.add_parser("info", help="parameters, breakdown and FLOPs of a U-Net (no weights needed)")
    p.add_argument("model", help="preset (vc2, hb-0.9b, hb-0.7b), an official YAML, or a converted model directory")
    p.add_argument("--time-cond", action="store_true", help="with the stage-2 guidance projection (time_cond_proj 256)")
    p.add_argument("--frames", type=int, default=DEFAULT_FRAMES)
    p.add_argument("--height", type=int, default=DEFAULT_SIZE[0],
                   help="video height in pixels, a multiple of 64 (latent: / 8)")
    p.add_argument("--width", type=int, default=DEFAULT_SIZE[1],
                   help="video width in pixels, a multiple of 64 (latent: / 8)")
    p.add_argument("--no-flops", action="store_true", help="skip the FLOP count (lowers the full graph)")
    p.set_defaults(func=run)


def run(args) -> int:
    try:  # the sizes generate accepts, so info never describes a run that cannot happen
        check_generation_args(1, args.frames, args.height, args.width, DEFAULT_FPS)
    except ValueError as err:
        raise CommandError(f"--frames/--height/--width: {err}") from None
    cfg = resolve_unet_config(args.model, args.time_cond)
    stats = parameter_breakdown(cfg)
    middle = "with" if cfg.use_middle_block else "without"
    print(f"U-Net {args.model}: {cfg.num_res_blocks} res block(s) per level, {middle} middle block, "
          f"model_channels {cfg.model_channels}, time_cond_proj {cfg.time_cond_proj_dim}")
    print(f"parameters: {stats['total']:,}")
    for title, table in (("by stage", stats["by_stage"]), ("by layer kind", stats["by_kind"])):
        print(f"\n{title}:")
        for name, n in sorted(table.items(), key=lambda kv: -kv[1]):
            print(f"  {name:<24} {n:>15,}  {100 * n / stats['total']:5.1f}%")
    if not args.no_flops:
        lat = (args.frames, args.height // 8, args.width // 8)
        flops = forward_flops(cfg, *lat)
        print(f"\nFLOPs per forward at {args.frames}×{args.height}×{args.width} (latent {lat[0]}×{lat[1]}×{lat[2]}), "
              f"batch 1: {flops / 1e12:.2f} TFLOP")
    return 0
