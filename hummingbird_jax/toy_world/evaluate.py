"""Evaluation of teacher and students on the toy world: the paper's two tables in miniature.

Every model samples the same prompts from the same noise seeds; the independent classifier judges
shape, colour and motion direction (semantic accuracy = the mean of the three per-label accuracies;
"all three right" is reported beside it), and we record temporal
consistency, sampling latency per video, U-Net parameters and sampling FLOPs.
"""

from __future__ import annotations

import textwrap

import numpy as np

from hummingbird_jax.evaluation.temporal_flickering import temporal_flickering
from hummingbird_jax.toy_world.classifier import accuracy
from hummingbird_jax.toy_world.clips import to_uint8
from hummingbird_jax.toy_world.sampling import SamplerSpec, compile_sampler, cost, generate, temporal_consistency
from hummingbird_jax.toy_world.world import captioned_displacement

STUDENT_SAMPLING_STEPS = (1, 2, 4, 8)
METRIC_KEYS = ("steps", "semantic_accuracy", "motion", "temporal_consistency", "temporal_flickering", "latency_s",
               "params")
LABEL_KEYS = ("shape", "colour", "motion", "all")  # report.json's accuracy_by_label


def evaluate_model(name, cfg, params, spec: SamplerSpec, *, vae_cfg, vae_params, classifier_params, contexts,
                   uncond, specs, latent_shape, seed: int = 0, batch_size: int = 8, compiled=None):
    """Metrics of one model with one sampler (and its videos, for the GIF grid)."""
    videos, latency = generate(cfg, params, vae_cfg, vae_params, spec, contexts, uncond, seed=seed,
                               latent_shape=latent_shape, batch_size=batch_size, compiled=compiled)
    judged = accuracy(classifier_params, videos, specs)
    c = cost(cfg, spec, latent_shape)
    return {"model": name, "sampler": spec.method, "steps": spec.steps, "semantic_accuracy": judged["semantic"],
            "accuracy_by_label": judged, "motion": captioned_displacement(videos, specs),
            "temporal_consistency": temporal_consistency(videos),
            "temporal_flickering": float(np.mean([temporal_flickering(to_uint8(v)) for v in videos])),
            "latency_s": latency, "params": c["params"], "flops": c["flops"]}, videos


def compile_samplers(runs, uncond, *, latent_shape, batch_size: int = 8, workers: int = 2) -> list:
    """Every ``(name, cfg, params, spec)`` run's sampler compiled on ``workers`` threads (compiling a
    program uses one core; a 2-core machine compiles two at once)."""
    from concurrent.futures import ThreadPoolExecutor

    def one(run):
        _, cfg, params, spec = run
        return compile_sampler(cfg, params, spec, uncond, latent_shape=latent_shape, batch_size=batch_size)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, runs))


def report_json(results: dict) -> dict:
    """The demo's ``report.json``: ``teacher``, ``student_pruned``, ``student_stage1``, ``student_stage2``
    (its 4-step result) and ``student_stage2_by_steps`` ({steps: result}); each result holds
    ``semantic_accuracy`` and beside it ``accuracy_by_label`` (shape, colour, motion, all three)."""
    def pick(r):
        by_label = {k: r["accuracy_by_label"][k] for k in LABEL_KEYS}
        return {**{k: r[k] for k in METRIC_KEYS}, "accuracy_by_label": by_label}

    by_steps = {str(s): pick(results[f"student_stage2_{s}"]) for s in STUDENT_SAMPLING_STEPS}
    return {"teacher": pick(results["teacher"]), "student_pruned": pick(results["student_pruned"]),
            "student_stage1": pick(results["student_stage1"]), "student_stage2": by_steps["4"],
            "student_stage2_by_steps": by_steps}


def table_markdown(results: dict) -> str:
    rows = ["| model | sampler | steps | semantic acc. | shape | colour | motion | all three | moves as captioned "
            "| temporal cons. | flickering (VBench) | latency s/video | speed-up vs teacher | params | GFLOPs/video |",
            "|" + "---|" * 15]
    base = results["teacher"]["latency_s"]
    for r in results.values():
        a = r["accuracy_by_label"]
        cells = [r["model"], r["sampler"], r["steps"], f"{r['semantic_accuracy']:.3f} ± {a['semantic_se']:.3f}",
                 f"{a['shape']:.2f}", f"{a['colour']:.2f}", f"{a['motion']:.2f}", f"{a['all']:.3f}",
                 f"{r['motion']['moving_as_captioned']:.2f} ({r['motion']['along_caption_px']:+.1f} px)",
                 f"{r['temporal_consistency']:.3f}", f"{r['temporal_flickering']:.3f}", f"{r['latency_s']:.4f}", f"{base / r['latency_s']:.1f}×",
                 f"{r['params']:,}", f"{r['flops'] / 1e9:.1f}"]
        rows.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(rows)


def gif_grid(videos_by_model: dict[str, np.ndarray], path, prompts: list[str], rows: int = 4, scale: int = 2) -> None:
    """A GIF whose rows are prompts and columns are models (first ``rows`` prompts), each row and column
    labelled on the image: the prompt to the left of its row, the model's name above its column."""
    from PIL import Image, ImageDraw, ImageFont

    cols = list(videos_by_model)
    n, t, h, w, _ = videos_by_model[cols[0]].shape
    rows = min(rows, n)
    font = ImageFont.load_default(size=11)
    cell_h, cell_w, pad = h * scale, w * scale, 4
    label_w, header_h = 150, 16
    prompt_lines = [textwrap.wrap(p, 24) for p in prompts[:rows]]
    canvas_size = (label_w + len(cols) * (cell_w + pad), header_h + rows * (cell_h + pad))
    labels = Image.new("RGB", canvas_size, (255, 255, 255))
    draw = ImageDraw.Draw(labels)
    for c, name in enumerate(cols):
        draw.text((label_w + c * (cell_w + pad), 2), name, fill=(0, 0, 0), font=font)
    for r, lines in enumerate(prompt_lines):
        draw.multiline_text((2, header_h + r * (cell_h + pad)), "\n".join(lines), fill=(0, 0, 0), font=font, spacing=1)
    frames = []
    for f in range(t):
        image = labels.copy()
        for c, name in enumerate(cols):
            for r in range(rows):
                img = to_uint8(videos_by_model[name][r, f])
                cell = Image.fromarray(img).resize((cell_w, cell_h), Image.NEAREST)
                image.paste(cell, (label_w + c * (cell_w + pad), header_h + r * (cell_h + pad)))
        frames.append(image)
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=125, loop=0)
