"""DOVER quality stage throughput on this machine: clips/s, and where the time goes.

Writes real H.264 clips, then scores each one as the ``quality`` stage does (released view settings:
3 technical clips of 32 fragment frames, 1 aesthetic clip of 32 frames at 224×224) with random
full-size weights (the speed does not depend on their values). Times per clip: PyAV decoding of the
sampled frames, view sampling (fragments + antialiased resize, numpy), and the network (fp32, jitted;
the first call's compilation is reported apart). Writes ``benchmarks/results/curation_quality.{json,md}``.

    python -m benchmarks.curation_quality                       # DOVER-Mobile and DOVER, 1 clip each
    python -m benchmarks.curation_quality --clips 4 --size 720 1280
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import jax
import numpy as np

from hummingbird_jax import registry
from hummingbird_jax.benchmarking import report
from hummingbird_jax.data.dover_views import DEFAULT_SAMPLE_TYPES, count_frames, frame_indices, read_frames
from hummingbird_jax.dover import DOVERConfig, dover_scores, init_dover_params, network_views, sample_dover_views
from hummingbird_jax.video_io import write_mp4


def make_clip(path: Path, frames: int, size: tuple[int, int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    h, w = size
    ys, xs = np.mgrid[0:h, 0:w]
    base = rng.integers(0, 256, (h // 8 + 1, w // 8 + 1, 3)).astype(np.float32)
    texture = np.kron(base, np.ones((8, 8, 1)))[:h, :w]
    video = np.empty((frames, h, w, 3), np.uint8)
    for t in range(frames):
        wave = 60 * np.sin(xs / 23 + t / 5 + seed)[..., None] * np.cos(ys / 31)[..., None]
        video[t] = np.clip(np.roll(texture, 3 * t, axis=1) * 0.6 + 50 + wave, 0, 255).astype(np.uint8)
    write_mp4(path, video, fps=24)


def decode_only(path: Path, seed: int) -> float:
    """Seconds to count the frames and decode the ones the views need (what sampling starts with)."""
    start = time.perf_counter()
    state = np.random.RandomState(seed)
    total = count_frames(path)
    wanted = np.concatenate([frame_indices(total, opt, state) for opt in DEFAULT_SAMPLE_TYPES.values()])
    read_frames(path, np.unique(wanted))
    return time.perf_counter() - start


def bench_model(name: str, paths: list[Path]) -> dict:
    cfg = DOVERConfig.from_official(registry.DOVER[name])
    params = init_dover_params(cfg, jax.random.key(0))
    shapes = {b: (opt["num_clips"], opt["clip_len"], 224, 224, 3) for b, opt in DEFAULT_SAMPLE_TYPES.items()}
    start = time.perf_counter()
    jax.block_until_ready(dover_scores(params, cfg, {b: np.zeros(s, np.float32) for b, s in shapes.items()}))
    first_call = time.perf_counter() - start
    rows = []
    for seed, path in enumerate(paths):
        decode = decode_only(path, seed)
        start = time.perf_counter()
        views, _ = sample_dover_views(path, seed=seed)
        decode_and_views = time.perf_counter() - start
        start = time.perf_counter()
        inputs = network_views(views)
        jax.block_until_ready(dover_scores(params, cfg, inputs))
        network = time.perf_counter() - start
        rows.append(dict(decode_s=decode, views_s=max(decode_and_views - decode, 0.0), network_s=network))
    mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
    total = sum(mean.values())
    return dict(
        model=name, clips=len(rows), first_call_s=round(first_call, 2), per_clip=rows,
        mean_s={k: round(v, 3) for k, v in mean.items()}, clip_s=round(total, 3), clips_per_s=round(1 / total, 4),
        share={k.removesuffix("_s"): round(v / total, 3) for k, v in mean.items()},
        parameters=int(sum(x.size for x in jax.tree_util.tree_leaves(params))),
    )


def markdown(result: dict) -> str:
    lines = [
        "# DOVER quality stage throughput",
        "",
        f"{result['clips']} clips of {result['frames']} frames at {result['size'][0]}×{result['size'][1]} (H.264), "
        "released view settings, random full-size weights, fp32, one clip per network call.",
        "",
        "| model | parameters | clips/s | s/clip | decode | view sampling | network | first call (compile) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["models"]:
        s = r["share"]
        lines.append(
            f"| {r['model']} | {r['parameters']:,} | {r['clips_per_s']} | {r['clip_s']} | {s['decode']:.0%} | "
            f"{s['views']:.0%} | {s['network']:.0%} | {r['first_call_s']} s |"
        )
    lines += ["", report.describe_machine(result["machine"]) + " The cores are shared, so times are upper bounds."]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=1)
    parser.add_argument("--frames", type=int, default=96)
    parser.add_argument("--size", type=int, nargs=2, default=(360, 640), metavar=("H", "W"))
    parser.add_argument("--models", nargs="+", default=["dover-mobile", "dover"], choices=sorted(registry.DOVER))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i in range(args.clips):
            paths.append(Path(tmp) / f"clip{i}.mp4")
            make_clip(paths[-1], args.frames, tuple(args.size), i)
        result = dict(clips=args.clips, frames=args.frames, size=list(args.size), models=[])
        for name in args.models:  # results are written after each model: a long run keeps what it measured
            result["models"].append(bench_model(name, paths))
            result["machine"] = report.machine_info()
            report.write_results("curation_quality", result, markdown(result))
            print(markdown(result), flush=True)


if __name__ == "__main__":
    main()
