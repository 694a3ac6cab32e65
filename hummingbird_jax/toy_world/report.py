"""``report.md`` of a toy-world run: data, judge, reward, both tables, the GIF grid and loss curves."""

from __future__ import annotations

from pathlib import Path

from hummingbird_jax.toy_world import artifacts
from hummingbird_jax.toy_world.classifier import chance_scores
from hummingbird_jax.toy_world.evaluate import table_markdown
from hummingbird_jax.toy_world.world import CLIP_SIZE, TRAVEL


def plot_losses(out: Path, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stage2 = artifacts.load_json(out / "stage2" / "metrics.json")
    panels = [(artifacts.load_json(out / "teacher" / "metrics.json")["loss"], "teacher (eps MSE)", "log"),
              (artifacts.load_json(out / "stage1" / "metrics.json")["loss"], "stage 1 (distillation MSE)", "log"),
              (stage2["loss"], "stage 2 (consistency + reward loss)", "linear")]
    panels += [(stage2[k], f"stage 2 {k} (higher is better)", "linear") for k in stage2 if k.startswith("reward/")]
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.2))
    for ax, (values, title, scale) in zip(axes, panels):
        ax.plot(range(1, len(values) + 1), values)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("step")
        ax.set_yscale(scale)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=80)
    plt.close(fig)
    tmp.replace(path)


def write_report(out: Path, results: dict, preset) -> Path:
    m = {phase: artifacts.load_json(out / phase / "metrics.json")
         for phase in ("curation", "classifier", "vae", "text", "reward", "teacher", "stage1", "stage2")}
    plot_losses(out, out / "loss_curves.png")
    kept = m["curation"]["kept_by_kind"]
    chance = chance_scores()
    smoke = ["**Smoke run: every phase at its smallest size, to check that the pipeline works; its numbers are "
             "not meaningful.**", ""] if preset.name == "smoke" else []
    lines = [
        *smoke,
        f"# Hummingbird on the toy text-video world (preset `{preset.name}`)", "",
        "## Data and judges", "",
        "| item | value |", "|---|---|",
        *[f"| {kind} clips kept / raw | {v['kept']} / {v['raw']} |" for kind, v in kept.items()],
        f"| classifier accuracy on curated clips (shape+colour+motion) | {m['classifier']['accuracy_on_curated_clips']['all']:.3f} |",
        f"| VAE reconstruction PSNR | {m['vae']['reconstruction_psnr_db']:.1f} dB |",
        f"| classifier accuracy on VAE reconstructions | {m['vae']['classifier_accuracy_on_reconstructions']['all']:.3f} |",
        f"| text contexts: min pairwise distance / mean norm | {m['text']['context_separation']:.3f} |",
        f"| text contexts: caption-specific share of their energy | {m['text']['caption_energy']:.3f} |",
        f"| reward caption retrieval (held-out clips, {m['reward']['candidates']} captions) | {m['reward']['retrieval_accuracy_held_out']:.3f} |",
        f"| reward caption retrieval (their VAE reconstructions) | {m['reward']['retrieval_accuracy_held_out_decoded']:.3f} |",
        f"| teacher steps, final loss | {m['teacher']['steps']}, {m['teacher']['final_loss_mean_last_10pct']:.4f} |",
        f"| stage 1 steps, final loss | {m['stage1']['steps']}, {m['stage1']['final_loss']:.4f} |",
        f"| stage 2 steps, final loss | {m['stage2']['steps']}, {m['stage2']['final_loss']:.4f} |",
        *[f"| stage 2 {k}: mean of first → last 10 % of steps | {_ends(v)} |" for k, v in m["stage2"].items()
          if k.startswith("reward/")],
        "", "## Quality and speed", "", table_markdown(results), "",
        "Semantic accuracy: the mean over shape, colour and motion direction of how often the independent "
        f"classifier finds the prompt's value (chance {chance['semantic']:.3f}), ± its standard error over the "
        f"prompts; all three: how often it finds all three (chance 1/{round(1 / chance['all'])}).",
        "Latency: U-Net sampling per video on this machine, after compilation.", "",
        "## Motion", "", motion_paragraph(results, chance_motion=chance["motion"]), "",
        "![samples: one prompt per motion in rows; columns teacher, pruned student, stage-1 student, stage-2 student "
        "(4 steps)]"
        "(samples.gif)", "", "![loss curves](loss_curves.png)", "",
    ]
    return _write(out / "report.md", "\n".join(lines))


def motion_paragraph(results: dict, chance_motion: float) -> str:
    """What the samples' motion shows, in numbers: the judge's motion accuracy against chance, and the
    judge-free displacement of the foreground along the caption's direction (real clips: ``TRAVEL``)."""
    teacher = results["teacher"]
    parts = []
    for name, r in results.items():
        m = r["motion"]
        parts.append(f"{name} {r['accuracy_by_label']['motion']:.2f} ({m['along_caption_px']:+.1f} px, "
                     f"{m['moving_as_captioned']:.0%} of moving prompts)")
    verdict = ("the teacher's videos move as their captions ask" if teacher["accuracy_by_label"]["motion"] >= 2 * chance_motion
               else "the teacher's motion is near chance, so no model here can be credited with following motion words")
    return (f"Motion accuracy (chance {chance_motion:.2f}) and the foreground's travel along the captioned direction "
            f"from the first to the last frame (real clips travel {TRAVEL * min(CLIP_SIZE):.1f} px of "
            f"{min(CLIP_SIZE)}; a static prompt's foreground drifts "
            f"{teacher['motion']['static_drift_px']:.1f} px in the teacher's samples): " + "; ".join(parts)
            + f". In short: {verdict}.")


def _ends(values) -> str:
    tenth = max(1, len(values) // 10)
    return f"{sum(values[:tenth]) / tenth:.3f} → {sum(values[-tenth:]) / tenth:.3f}"


def _write(path: Path, text: str) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return path
