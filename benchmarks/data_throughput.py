"""Input pipeline throughput on this machine: clips/s into training batches.

* Clip path: real H.264 mp4 files (synthetic frames: moving texture plus grain, 30 fps, ``--source``
  size, about 1.2 Mbit/s like web video; GOP 30), decoded
  with PyAV at a random stride U{1..6} after skipping 35 frames, resized and centre-cropped to
  16×320×512, converted to float32 in [-1, 1], tokenized and batched; with 1 and 2 worker processes
  (and 0, i.e. in the training process, for reference).
* Latent path: a TFDS ArrayRecord dataset in the format ``hummingbird data encode`` writes (bf16
  posterior mean and logvar of 16×40×64×4, tokens), read at random through Grain with a posterior
  draw per example. The stored values are random (reading cost does not depend on them; encoding
  them with the full VAE on this CPU would take hours).

    python -m benchmarks.data_throughput            # about two minutes on 2 cores

Writes ``benchmarks/results/data_throughput.{json,md}``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import ml_dtypes
import numpy as np

from hummingbird_jax.benchmarking import report
from hummingbird_jax.data.clips import ClipConfig, clip_loader
from hummingbird_jax.data.latents import LatentSpec, build_dataset, latent_loader, write_chunk
from hummingbird_jax.data.synthetic import write_video



def make_videos(folder: str, count: int, frames: int, height: int, width: int) -> str:
    lines = ["path,text"]
    for i in range(count):
        write_video(os.path.join(folder, f"v{i}.mp4"), num_frames=frames, fps=30, height=height, width=width, gop=30,
                    noise=6.0)
        lines.append(f"v{i}.mp4,a synthetic test video with moving stripes number {i}")
    path = os.path.join(folder, "manifest.csv")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def make_latents(folder: str, count: int, spec: LatentSpec) -> str:
    rng = np.random.default_rng(0)
    chunks = os.path.join(folder, "chunks")
    os.makedirs(chunks)
    shape = (count, *spec.latent_shape)
    write_chunk(os.path.join(chunks, "chunk-000000.npz"), {
        "mean": rng.standard_normal(shape, np.float32).astype(ml_dtypes.bfloat16),
        "logvar": (rng.standard_normal(shape, np.float32) - 10).astype(ml_dtypes.bfloat16),
        "tokens": rng.integers(0, 49408, (count, 77)).astype(np.int32),
        "fps": np.full(count, 10, np.int32), "stride": np.full(count, 3, np.int32),
        "start": np.zeros(count, np.int32), "fps_orig": np.full(count, 30, np.float32),
        "index": np.arange(count, dtype=np.int64),
        "text": np.array([f"caption {i}" for i in range(count)]), "path": np.array([f"v{i}.mp4" for i in range(count)]),
        "skipped": np.zeros(6, np.int64),
    })
    build_dataset(folder, spec, chunks)
    return folder


def measure(make_loader, batch_size: int, clips: int, warmup_batches: int) -> dict:
    """Steady-state clips/s: the clock starts after ``warmup_batches`` batches, by when the look-ahead
    buffers filled during start-up (worker processes, imports) have been drained."""
    start = time.perf_counter()
    loader = make_loader()
    next(loader)
    first = time.perf_counter() - start
    for _ in range(warmup_batches):
        next(loader)
    batches = max(1, clips // batch_size)
    start = time.perf_counter()
    for _ in range(batches):
        next(loader)
    elapsed = time.perf_counter() - start
    loader.close()
    return {"clips": batches * batch_size, "seconds": round(elapsed, 3),
            "clips_per_s": round(batches * batch_size / elapsed, 2), "first_batch_s": round(first, 2)}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=8)
    parser.add_argument("--video-frames", type=int, default=150, help="frames per source video (30 fps)")
    parser.add_argument("--source", type=int, nargs=2, default=(360, 640), metavar=("H", "W"))
    parser.add_argument("--clips", type=int, default=36, help="clips timed per setting (clip path)")
    parser.add_argument("--latent-clips", type=int, default=256, help="clips timed per setting (latent path)")
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--workers", type=int, nargs="+", default=(0, 1, 2))
    args = parser.parse_args(argv)

    cfg = ClipConfig(frames=16, size=(320, 512), max_stride=6, skip_first=35)
    results: dict = {
        "machine": report.machine_info(with_jax=False),
        "clip": {"frames": cfg.frames, "size": list(cfg.size), "max_stride": cfg.max_stride,
                 "skip_first": cfg.skip_first, "source": list(args.source), "source_fps": 30,
                 "batch_size": args.batch_size, "by_workers": {}},
        "latents": {"batch_size": 8, "by_workers": {}},
    }
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        manifest = make_videos(tmp, args.videos, args.video_frames, *args.source)
        results["clip"]["write_videos_s"] = round(time.perf_counter() - start, 2)
        size = sum(os.path.getsize(os.path.join(tmp, f"v{i}.mp4")) for i in range(args.videos))
        results["clip"]["source_mbit_per_s"] = round(size * 8 / 1e6 / (args.videos * args.video_frames / 30), 2)
        for workers in args.workers:
            got = measure(lambda: clip_loader(manifest, cfg, batch_size=args.batch_size, seed=0, num_workers=workers,
                                              shard_index=0, shard_count=1), args.batch_size, args.clips,
                          warmup_batches=6)
            results["clip"]["by_workers"][str(workers)] = got
            print(f"clips, {workers} workers: {got}", flush=True)

        spec = LatentSpec(frames=16, stride=3, size=(320, 512), skip_first=35, latent_channels=4, downsample=8,
                          scale_factor=0.18215)
        start = time.perf_counter()
        data = make_latents(os.path.join(tmp, "latents"), args.latent_clips, spec)
        results["latents"]["write_s"] = round(time.perf_counter() - start, 2)
        results["latents"]["latent_shape"] = list(spec.latent_shape)
        for workers in (0, 1):
            got = measure(lambda: latent_loader(data, batch_size=8, seed=0, num_workers=workers, shard_index=0,
                                                shard_count=1), 8, args.latent_clips,
                          warmup_batches=4)
            results["latents"]["by_workers"][str(workers)] = got
            print(f"latents, {workers} workers: {got}", flush=True)

    report.write_results("data_throughput", results, to_markdown(results))
    return results


def to_markdown(r: dict) -> str:
    c, l = r["clip"], r["latents"]
    lines = [
        "# Input pipeline throughput",
        "",
        report.describe_machine(r["machine"]) + " "
        "Command: `python -m benchmarks.data_throughput`. Steady-state rates: the clock starts once the "
        "start-up look-ahead has been drained; 'first batch' is the start-up (imports, worker processes).",
        "",
        f"## Clips decoded from mp4 ({c['frames']}×{c['size'][0]}×{c['size'][1]}, stride U{{1..{c['max_stride']}}}, "
        f"from {c['source'][0]}×{c['source'][1]} H.264 at {c['source_fps']} fps and {c['source_mbit_per_s']} Mbit/s, "
        f"batch {c['batch_size']})",
        "",
        "| worker processes | clips/s | first batch (s) |",
        "|---|---|---|",
    ]
    for w, got in c["by_workers"].items():
        lines.append(f"| {w}{' (in process)' if w == '0' else ''} | {got['clips_per_s']} | {got['first_batch_s']} |")
    lines += [
        "",
        f"## Precomputed latents (TFDS ArrayRecord, {'×'.join(map(str, l['latent_shape']))} bf16 mean + logvar, "
        f"batch {l['batch_size']})",
        "",
        "| worker processes | clips/s | first batch (s) |",
        "|---|---|---|",
    ]
    for w, got in l["by_workers"].items():
        lines.append(f"| {w}{' (in process)' if w == '0' else ''} | {got['clips_per_s']} | {got['first_batch_s']} |")
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
