"""Memory of back-propagating through the VAE video decode, with and without ``jax.checkpoint``.

Reward losses decode K frames of the one-step x0 and differentiate through the decoder. This
compiles ``grad(sum(decode_video_latents(...)))`` for the full SD KL-f8 VAE and reads XLA's memory
analysis (nothing full-size is allocated: params and latents are ``ShapeDtypeStruct`` s). ``--time``
also runs one real forward decode of a frame with random weights and reports its wall time.

    python -m benchmarks.vae_decode_memory                    # K=5 frames at 320x512, fp32
    python -m benchmarks.vae_decode_memory --dtype bfloat16 --time

Writes ``benchmarks/results/vae_decode_memory[_<dtype>].{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp

from hummingbird_jax import registry
from hummingbird_jax.benchmarking import report
from hummingbird_jax.models.vae import VAEConfig, decode_video_latents, init_vae_params, vae_param_shapes



def decode_gradient_memory(cfg: VAEConfig, frames: int, height: int, width: int, chunk_size: int, remat: bool) -> dict:
    f = cfg.downsample_factor
    latents = jax.ShapeDtypeStruct((1, frames, height // f, width // f, cfg.embed_dim), jnp.float32)
    params = vae_param_shapes(cfg)

    def loss(p, lat):
        return jnp.sum(decode_video_latents(p, lat, cfg, chunk_size=chunk_size, remat=remat))

    return {"remat": remat, "chunk_size": chunk_size,
            **report.compiled_memory(jax.grad(loss, argnums=1), params, latents)}


def time_one_frame(cfg: VAEConfig, height: int, width: int, repeats: int = 2) -> float:
    params = init_vae_params(cfg, jax.random.key(0, impl="rbg"))
    f = cfg.downsample_factor
    z = jax.random.normal(jax.random.key(1), (1, 1, height // f, width // f, cfg.embed_dim))
    decode = jax.jit(lambda p, lat: decode_video_latents(p, lat, cfg, remat=False))
    decode(params, z).block_until_ready()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        decode(params, z).block_until_ready()
        best = min(best, time.perf_counter() - start)
    return best


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    report.add_video_memory_arguments(ap)
    ap.add_argument("--chunk-sizes", type=int, nargs="+", default=[1])
    ap.add_argument("--time", action="store_true", help="also time one real 1-frame decode (allocates the VAE)")
    args = ap.parse_args(argv)

    cfg = registry.vae("sd-kl-f8", dtype=args.dtype, param_dtype=args.dtype)
    rows = []
    for chunk in args.chunk_sizes:
        for remat in (False, True):
            row = decode_gradient_memory(cfg, args.frames, args.height, args.width, chunk, remat)
            print(json.dumps(row), flush=True)
            rows.append(row)
    result = report.video_memory_result("grad of sum(decode_video_latents) w.r.t. latents, full SD KL-f8 VAE", args, rows)
    if args.time:
        result["forward_one_frame_s"] = round(time_one_frame(cfg, args.height, args.width), 2)
        print(f"forward decode of one frame: {result['forward_one_frame_s']} s", flush=True)

    lines = report.video_memory_markdown(
        result,
        f"VAE decode gradient memory: {args.frames} frames at {args.height}x{args.width}, {args.dtype}",
        ["XLA compiled memory analysis of `grad(sum(decode_video_latents(...)))`; "
         f"params are arguments ({rows[0]['argument_bytes'] / 2**20:.0f} MiB)."],
        {"chunk size": lambda r: str(r["chunk_size"]), "jax.checkpoint": lambda r: "yes" if r["remat"] else "no"},
    )
    if "forward_one_frame_s" in result:
        lines += ["", f"One forward decode of a single frame (random weights): {result['forward_one_frame_s']} s."]
    stem = report.video_memory_stem("vae_decode_memory", args.dtype)
    print("wrote", *report.write_results(stem, result, "\n".join(lines)))


if __name__ == "__main__":
    main()
