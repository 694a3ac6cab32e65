"""``results.json``, ``results.md`` (beside the paper's Table 1) and a bar chart of one evaluation."""

from __future__ import annotations

import json
import os

from hummingbird_jax.evaluation.paper import PAPER_SOURCE, PAPER_TABLE_1

__all__ = ["write_reports"]


def _atomic_write(path: str, text: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def _markdown(totals: dict[str, dict], per_video: dict[str, dict]) -> str:
    models = list(PAPER_TABLE_1)
    lines = [
        "# VBench-style evaluation",
        "",
        f"Scores in % (VBench's convention). The columns marked *paper* are copied from the {PAPER_SOURCE}, "
        "measured by its authors on VBench's full prompt suite with their own videos; they are not produced "
        "by this run.",
        "",
        "| dimension | this run | videos | " + " | ".join(f"{m} (paper)" for m in models) + " |",
        "|---|---|---|" + "---|" * len(models),
    ]
    for dim, total in totals.items():
        paper = [PAPER_TABLE_1[m].get(dim) for m in models]
        lines.append(f"| {dim} | {100 * total['score']:.2f} | {total['videos']} | "
                     + " | ".join("—" if v is None else f"{v:.2f}" for v in paper) + " |")
    lines += ["", "## Per video", "", "| video | " + " | ".join(totals) + " |", "|---|" + "---|" * len(totals)]
    for name, scores in per_video.items():
        cells = ["—" if scores.get(d) is None else f"{100 * scores[d]:.2f}" for d in totals]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _chart(totals: dict[str, dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    dims = list(totals)
    series = [("this run", [100 * totals[d]["score"] for d in dims])]
    for model in ("VideoCrafter2", "Hummingbird 16 frames"):
        series.append((f"{model} (paper)", [PAPER_TABLE_1[model].get(d, np.nan) for d in dims]))
    x = np.arange(len(dims))
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(dims)), 4))
    for i, (label, values) in enumerate(series):
        ax.bar(x + (i - (len(series) - 1) / 2) * width, values, width, label=label)
    ax.set_xticks(x, [d.replace("_", "\n") for d in dims])
    ax.set_ylabel("score (%)")
    ax.set_title("VBench dimensions")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path + ".tmp.png", dpi=100)
    plt.close(fig)
    os.replace(path + ".tmp.png", path)


def write_reports(out_dir: str, totals: dict[str, dict], per_video: dict[str, dict]) -> dict[str, str]:
    """Write the three reports; returns their paths."""
    paths = {k: os.path.join(out_dir, n) for k, n in
             (("json", "results.json"), ("md", "results.md"), ("png", "results.png"))}
    data = {"dimensions": totals, "videos": per_video, "paper_table_1": {"source": PAPER_SOURCE, **PAPER_TABLE_1}}
    _atomic_write(paths["json"], json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    _atomic_write(paths["md"], _markdown(totals, per_video))
    _chart(totals, paths["png"])
    return paths
