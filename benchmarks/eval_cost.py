"""Cost of ``hummingbird eval`` per video and dimension on this machine, full-size backbones.

Random weights of the real shapes (DINO ViT-B/16, OpenAI CLIP ViT-B/32 and ViT-L/14 + the LAION
head, ViCLIP-L/14) score one synthetic video of ``--frames`` x ``--height`` x ``--width`` (default
16 x 320 x 512, the paper's output) exactly as the command does: decode excluded, preprocessing,
backbone and formula included. The first call includes XLA compilation; the second is the steady
cost per video.

    python -m benchmarks.eval_cost                       # all dimensions, 16x320x512
    python -m benchmarks.eval_cost --dims temporal_flickering,subject_consistency

Writes ``benchmarks/results/eval_cost.{json,md}``.
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np

from hummingbird_jax.benchmarking import report
from hummingbird_jax.evaluation import DIMENSIONS
from hummingbird_jax.evaluation.aesthetic_quality import AestheticModel
from hummingbird_jax.evaluation.backbones import ImageTower
from hummingbird_jax.evaluation.dimension import Video
from hummingbird_jax.evaluation.viclip_backend import viclip_scorer
from hummingbird_jax.models.clip import CLIPVisionConfig, CLIPVisionEncoder
from hummingbird_jax.models.viclip import ViCLIPConfig
from hummingbird_jax.rewards.viclip import ViCLIPReward


def _tower(cfg: CLIPVisionConfig, embed_dim=None) -> ImageTower:
    image = np.zeros((1, cfg.image_size, cfg.image_size, 3), np.float32)
    params = jax.jit(lambda key: CLIPVisionEncoder(cfg, embed_dim).init(key, image)["params"])(jax.random.key(0))
    return ImageTower(cfg, params, embed_dim)


def _state(name: str):
    """Random full-size models for one dimension (the shapes of the released weights)."""
    if name == "subject_consistency":
        return _tower(CLIPVisionConfig.dino_vit_b_16())
    if name == "background_consistency":
        return _tower(CLIPVisionConfig.openai_vit_b_32(), 512)
    if name == "aesthetic_quality":
        rng = np.random.default_rng(0)
        return AestheticModel(_tower(CLIPVisionConfig.openai_vit_l_14(), 768),
                              rng.normal(size=768).astype(np.float32), np.float32(5.0))
    if name in ("overall_consistency", "temporal_style"):
        cfg = ViCLIPConfig.vit_l14()
        return viclip_scorer(ViCLIPReward(cfg).init_params(jax.random.key(0)), cfg)
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", default=",".join(DIMENSIONS))
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--height", type=int, default=320)
    parser.add_argument("--width", type=int, default=512)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (args.frames, args.height, args.width, 3), dtype=np.uint8)
    video = Video("synthetic.mp4", frames, 8.0, "a corgi running on the beach")
    rows = {}
    for name in args.dims.split(","):
        dim = DIMENSIONS[name]
        start = time.perf_counter()
        state = _state(name)
        load_s = time.perf_counter() - start
        timings = []
        for _ in range(2):
            start = time.perf_counter()
            dim.score(state, video)
            timings.append(time.perf_counter() - start)
        rows[name] = {"init_s": round(load_s, 2), "first_call_s": round(timings[0], 2),
                      "per_video_s": round(timings[1], 2), "weights": list(dim.needs)}
        print(name, rows[name], flush=True)
        del state
    info = report.machine_info()
    result = {"video": [args.frames, args.height, args.width], "dimensions": rows, "machine": info}
    lines = [
        f"# `hummingbird eval` cost per video ({args.frames}×{args.height}×{args.width}, fp32, random weights of the real shapes)",
        "",
        report.describe_machine(info),
        "",
        "| dimension | model | per video (s) | first call incl. compile (s) |",
        "|---|---|---|---|",
    ]
    for name, row in rows.items():
        model = ", ".join(row["weights"]) or "none (pixels)"
        lines.append(f"| {name} | {model} | {row['per_video_s']} | {row['first_call_s']} |")
    lines += ["", "Decoding the mp4 is not included (PyAV, ~0.1 s for such a video). Run: `python -m benchmarks.eval_cost`."]
    print(report.write_results("eval_cost", result, "\n".join(lines)))


if __name__ == "__main__":
    main()
