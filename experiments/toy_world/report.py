"""``report.md`` of a toy-world run: data, judge, reward, both tables, the GIF grid and loss curves."""

from __future__ import annotations

from pathlib import Path

from experiments.toy_world import artifacts
from experiments.toy_world.evaluate import table_markdown


def plot_losses(out: Path, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    for ax, phase, title in zip(axes, ("teacher", "stage1", "stage2"),
                                ("teacher (eps MSE)", "stage 1 (distillation MSE)", "stage 2 (consistency distillation)")):
        loss = artifacts.load_json(out / phase / "metrics.json").get("loss", [])
        ax.plot(range(1, len(loss) + 1), loss)
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.set_yscale("log")
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
    lines = [
        f"# Hummingbird on the toy text-video world (preset `{preset.name}`)", "",
        "## Data and judges", "",
        "| item | value |", "|---|---|",
        *[f"| {kind} clips kept / raw | {v['kept']} / {v['raw']} |" for kind, v in kept.items()],
        f"| classifier accuracy on curated clips (shape+colour+motion) | {m['classifier']['accuracy_on_curated_clips']['all']:.3f} |",
        f"| VAE reconstruction PSNR | {m['vae']['reconstruction_psnr_db']:.1f} dB |",
        f"| classifier accuracy on VAE reconstructions | {m['vae']['classifier_accuracy_on_reconstructions']['all']:.3f} |",
        f"| text contexts: min pairwise distance / mean norm | {m['text']['context_separation']:.3f} |",
        f"| reward caption retrieval (held-out clips, {m['reward']['candidates']} captions) | {m['reward']['retrieval_accuracy_held_out']:.3f} |",
        f"| teacher steps, final loss | {m['teacher']['steps']}, {m['teacher']['final_loss_mean_last_10pct']:.4f} |",
        f"| stage 1 steps, final loss | {m['stage1']['steps']}, {m['stage1']['final_loss']:.4f} |",
        f"| stage 2 steps, final loss | {m['stage2']['steps']}, {m['stage2']['final_loss']:.4f} |",
        "", "## Quality and speed", "", table_markdown(results), "",
        "Semantic accuracy: the independent classifier finds shape, colour and motion direction of the prompt.",
        "Latency: U-Net sampling per video on this machine, after compilation.", "",
        "![samples: rows are prompts; columns teacher, pruned student, stage-1 student, stage-2 student (4 steps)]"
        "(samples.gif)", "", "![loss curves](loss_curves.png)", "",
    ]
    return _write(out / "report.md", "\n".join(lines))


def _write(path: Path, text: str) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return path
