"""The engine of ``hummingbird eval``: score every video on every asked dimension, resumably.

Each finished (video, dimension) result is appended to ``OUT/per_video.jsonl`` at once, so a
stopped run picks up where it was (finished videos are not recomputed). Models load once, only for
dimensions with work left; each video is decoded once for all of them.
"""

from __future__ import annotations

import json
import os
import time
from typing import Callable, Optional

from hummingbird_jax.errors import UserError
from hummingbird_jax.evaluation import DIMENSIONS
from hummingbird_jax.evaluation.dimension import Video
from hummingbird_jax.evaluation.report import write_reports
from hummingbird_jax.evaluation.weights import check_weights
from hummingbird_jax.video_io import read_video

__all__ = ["resolve_dimensions", "run_evaluation", "clock", "RESULTS_LOG"]

RESULTS_LOG = "per_video.jsonl"


def resolve_dimensions(spec: Optional[str]) -> list:
    """``a,b,...`` -> dimensions (default: all); an unknown name is a one-line error listing the known."""
    if not spec:
        return list(DIMENSIONS.values())
    names = [n.strip() for n in spec.split(",") if n.strip()]
    unknown = [n for n in names if n not in DIMENSIONS]
    if unknown:
        raise UserError(f"--dims: unknown dimension(s) {', '.join(unknown)} (known: {', '.join(DIMENSIONS)})")
    return [DIMENSIONS[n] for n in dict.fromkeys(names)]


def _read_log(path: str) -> dict[tuple[str, str], dict]:
    done = {}
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    row = json.loads(line)
                    done[(row["video"], row["dimension"])] = row["result"]
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue  # a line cut by a stop mid-write: that result is simply redone
    return done


def clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def run_evaluation(videos: list[tuple[str, Optional[str]]], dimensions: list, weights_dir: Optional[str],
                   out_dir: str, log: Callable[[str], None] = print) -> dict:
    """Score ``videos`` (``(path, prompt or None)``) on ``dimensions``; returns the report paths."""
    if not videos:
        raise UserError("no videos to evaluate")
    names = [os.path.basename(path) for path, _ in videos]
    if len(set(names)) != len(names):
        raise UserError("two videos share a file name; results are keyed by file name")
    for dim in dimensions:
        if dim.needs_prompt:
            missing = [n for n, (_, prompt) in zip(names, videos) if not prompt]
            if missing:
                raise UserError(f"{dim.name} needs each video's prompt; none for {missing[0]} (name videos "
                                "'<prompt>-<i>.mp4' as VBench does, or give --prompts a .csv/.json manifest)")
    check_weights(weights_dir, dimensions)
    os.makedirs(out_dir, exist_ok=True)
    log_path = os.path.join(out_dir, RESULTS_LOG)
    done = _read_log(log_path)
    todo = [(path, prompt) for path, prompt in videos
            if any((os.path.basename(path), d.name) not in done for d in dimensions)]
    log(f"{len(videos)} video(s) x {len(dimensions)} dimension(s); {len(videos) - len(todo)} already done")
    states: dict[str, object] = {}
    start = time.perf_counter()
    with open(log_path, "a", encoding="utf-8") as out:
        for i, (path, prompt) in enumerate(todo, 1):
            name = os.path.basename(path)
            try:
                frames = read_video(path)
            except (ValueError, OSError) as err:
                raise UserError(f"{path}: cannot decode video ({err})") from None
            video = Video(path, frames, None, prompt)
            scores = []
            for dim in dimensions:
                if (name, dim.name) in done:
                    continue
                if dim.name not in states:
                    if dim.needs:
                        log(f"loading {', '.join(dim.needs)} for {dim.name}")
                    states[dim.name] = dim.load(weights_dir)
                result = dim.score(states[dim.name], video)
                done[(name, dim.name)] = result
                out.write(json.dumps({"video": name, "dimension": dim.name, "result": result}) + "\n")
                out.flush()
                scores.append(f"{dim.name} {result['score']:.4f}")
            elapsed = time.perf_counter() - start
            eta = elapsed / i * (len(todo) - i)
            log(f"[{i}/{len(todo)}] {name}: {', '.join(scores)} | elapsed {clock(elapsed)}, ETA {clock(eta)}")
    per_video = {n: {d.name: done[(n, d.name)]["score"] for d in dimensions} for n in names}
    totals = {}
    for dim in dimensions:
        results = [done[(n, dim.name)] for n in names]
        totals[dim.name] = {"score": dim.aggregate(results), "videos": len(results)}
    return write_reports(out_dir, totals, per_video)
