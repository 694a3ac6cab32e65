"""Camera-motion classifier: per-class accuracy on synthetic clips and cost per clip on this machine.

Renders every class of :data:`hummingbird_jax.curation.motion_clips.MOTION_CLASSES` at several frame sizes,
speeds and seeds, writes each as an H.264 MP4 (so decoding is part of the cost), classifies it with
the motion stage's defaults and writes ``benchmarks/results/curation_motion.{json,md}``.

    python benchmarks/curation_motion.py            # full grid (about 170 clips, a few minutes)
    python benchmarks/curation_motion.py --quick    # one seed, two sizes
"""

from __future__ import annotations

import argparse
import collections
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from hummingbird_jax.benchmarking import report
from hummingbird_jax.curation.motion import classify, clip_scores
from hummingbird_jax.curation.motion_clips import MOTION_CLASSES, render_clip, write_video



def run(sizes, speeds, seeds, frames, pairs, gap, width):
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            for speed in speeds:
                for seed in seeds:
                    for label in MOTION_CLASSES:
                        path = Path(tmp) / f"{label}.mp4"
                        write_video(path, render_clip(label, size=size, frames=frames, speed=speed, seed=seed))
                        start = time.perf_counter()
                        scores = clip_scores(str(path), 0, frames, pairs=pairs, gap=gap, width=width)
                        predicted = classify(scores)
                        seconds = time.perf_counter() - start
                        records.append(dict(label=label, predicted=predicted, size=list(size), speed=speed,
                                            seed=seed, seconds=seconds, scores=scores))
    return records


def long_clip_cost(settings, frames=240, size=(320, 512)):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "long.mp4"
        write_video(path, render_clip("pan", size=size, frames=frames, speed=0.3, seed=0))
        start = time.perf_counter()
        predicted = classify(clip_scores(str(path), 0, frames, settings["pairs"], settings["gap"], settings["width"]))
        return dict(frames=frames, size=f"{size[0]}x{size[1]}", seconds=round(time.perf_counter() - start, 4),
                    label="pan", predicted=predicted)


def summarise(records, settings):
    per_class = {}
    for label in MOTION_CLASSES:
        mine = [r for r in records if r["label"] == label]
        per_class[label] = dict(clips=len(mine), correct=sum(r["predicted"] == label for r in mine),
                                accuracy=round(sum(r["predicted"] == label for r in mine) / max(1, len(mine)), 4))
    confusion = {label: dict(collections.Counter(r["predicted"] for r in records if r["label"] == label))
                 for label in MOTION_CLASSES}
    cost = {}
    for size in sorted({tuple(r["size"]) for r in records}):
        times = [r["seconds"] for r in records if tuple(r["size"]) == size]
        cost[f"{size[0]}x{size[1]}"] = dict(clips=len(times), median_s=round(statistics.median(times), 4),
                                            mean_s=round(statistics.fmean(times), 4))
    dolly = [r for r in records if r["label"] == "dolly_zoom"]
    zooms = [r for r in records if r["label"] in ("zoom_in", "zoom_out")]
    return dict(
        settings=settings,
        machine=dict(report.machine_info(with_jax=False), opencv=cv2.__version__),
        overall_accuracy=round(sum(r["predicted"] == r["label"] for r in records) / len(records), 4),
        per_class=per_class,
        confusion=confusion,
        dolly_vs_zoom=dict(
            dolly_called_zoom=sum(r["predicted"] in ("zoom_in", "zoom_out") for r in dolly),
            zoom_called_dolly=sum(r["predicted"] == "dolly_zoom" for r in zooms),
            dolly_centre_edge_ratio_median=round(float(np.median(
                [abs(r["scores"]["motion_zoom_center"] / r["scores"]["motion_zoom_edge"]) for r in dolly])), 4),
            zoom_centre_edge_ratio_median=round(float(np.median(
                [abs(r["scores"]["motion_zoom_center"] / r["scores"]["motion_zoom_edge"]) for r in zooms])), 4),
        ),
        cost_per_clip=cost,
        errors=[{k: r[k] for k in ("label", "predicted", "size", "speed", "seed")}
                for r in records if r["predicted"] != r["label"]],
    )


def markdown(result) -> str:
    s = result["settings"]
    lines = [
        "# Camera-motion classifier on synthetic clips",
        "",
        f"Clips: {s['frames']} frames at 24 fps, sizes {s['sizes']}, speeds {s['speeds']} "
        f"(1.0 = 1 % of the frame width per frame), seeds {s['seeds']}; analysis: {s['pairs']} pairs, "
        f"gap {s['gap']}, width {s['width']} px, OpenCV {result['machine']['opencv']}. Command: `{s['command']}`.",
        "",
        report.describe_machine(result["machine"]) + " The cores are shared, so times are upper bounds.",
        "",
        "Synthetic clips have exact global motion and a textured scene: this checks the method and the "
        "thresholds, not accuracy on real footage (parallax, motion blur, compression, handheld shake).",
        "",
        f"Overall accuracy: **{result['overall_accuracy']:.1%}**",
        "",
        "| class | clips | correct | accuracy | predicted as |",
        "|---|---:|---:|---:|---|",
    ]
    for label, row in result["per_class"].items():
        confusion = ", ".join(f"{k}: {v}" for k, v in sorted(result["confusion"][label].items()))
        lines.append(f"| {label} | {row['clips']} | {row['correct']} | {row['accuracy']:.1%} | {confusion} |")
    d = result["dolly_vs_zoom"]
    lines += [
        "",
        "## Dolly zoom vs plain zoom",
        "",
        f"- dolly zooms labelled as plain zoom: {d['dolly_called_zoom']}; plain zooms labelled dolly zoom: "
        f"{d['zoom_called_dolly']}",
        f"- median |centre divergence / edge zoom|: dolly zoom {d['dolly_centre_edge_ratio_median']}, "
        f"plain zoom {d['zoom_centre_edge_ratio_median']} (threshold 0.4)",
        "",
        "## Cost per clip (decode + flow + fit, one process, one core busy)",
        "",
        "| source size | clips | median s | mean s |",
        "|---|---:|---:|---:|",
    ]
    for size, row in result["cost_per_clip"].items():
        lines.append(f"| {size} | {row['clips']} | {row['median_s']} | {row['mean_s']} |")
    long = result["long_clip"]
    lines += ["", f"A {long['frames']}-frame ({long['frames'] / 24:.0f} s) {long['size']} clip: {long['seconds']} s "
              f"(frames are decoded sequentially up to the last sampled pair, so cost grows with clip length)."]
    if result["errors"]:
        lines += ["", "## Misclassified", ""] + [
            f"- {e['label']} → {e['predicted']} (size {e['size']}, speed {e['speed']}, seed {e['seed']})"
            for e in result["errors"]]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--frames", type=int, default=24)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    sizes = [(96, 128), (144, 256)] if args.quick else [(96, 128), (144, 256), (320, 512)]
    speeds = [0.25, 0.5, 1.0, 2.0]
    seeds = [0] if args.quick else [0, 1]
    settings = dict(sizes=sizes, speeds=speeds, seeds=seeds, frames=args.frames, pairs=6, gap=2, width=160,
                    command="python benchmarks/curation_motion.py" + (" --quick" if args.quick else ""))
    records = run(sizes, speeds, seeds, args.frames, settings["pairs"], settings["gap"], settings["width"])
    result = summarise(records, settings)
    result["long_clip"] = long_clip_cost(settings)
    report.write_results("curation_motion", result, markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
