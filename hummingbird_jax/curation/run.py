"""The whole curation chain in one call: ingest -> [split] -> [quality] -> motion -> [recaption] -> filter.

Every intermediate manifest is kept in the output folder (``01_ingest.csv``, ``02_split.csv``,
``02b_quality.csv`` (DOVER scores, when a quality stage is given), ``03_motion.csv``,
``04_recaption.csv``), each stage resumes from its journal, so re-running the same
command after an interruption (or after adding videos) only does the missing work. The training
manifest is ``manifest.csv`` with its report in ``report/``; ``summary.json`` collects every stage's
summary.
"""

from __future__ import annotations

import os
from pathlib import Path

from hummingbird_jax.curation.filter import format_summary, run_filter
from hummingbird_jax.curation.motion import MotionStage
from hummingbird_jax.curation.probe import VIDEO_EXTENSIONS, ProbeStage, sources
from hummingbird_jax.curation.recaption import RecaptionStage
from hummingbird_jax.curation.scenes import SceneSplitStage
from hummingbird_jax.curation.stage import Stage, run_stage
from hummingbird_jax.curation.tables import write_json


def ingest(src, out, *, video_root=None, extensions=VIDEO_EXTENSIONS, workers=1, restart=False, progress=True,
           engine="local", ray=None):
    table = sources(src, video_root=video_root, extensions=extensions)
    if table.empty:
        raise FileNotFoundError(f"no videos found in '{src}' (extensions: {', '.join(extensions)})")
    return run_stage(ProbeStage(), table, out, workers=workers, restart=restart, progress=progress,
                     engine=engine, ray=ray)


def run_curation(
    src,
    out_dir,
    *,
    video_root=None,
    extensions=VIDEO_EXTENSIONS,
    split: bool = False,
    split_options: dict | None = None,
    motion_options: dict | None = None,
    recaption: bool = True,
    recaption_options: dict | None = None,
    filter_config: str | os.PathLike | None = None,
    workers: int = 1,
    restart: bool = False,
    progress: bool = True,
    log=print,
    engine: str = "local",
    ray=None,
    quality: Stage | None = None,
) -> dict:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    common = dict(workers=workers, restart=restart, progress=progress, engine=engine, ray=ray)
    summaries = {}
    recaptioner = RecaptionStage(**(recaption_options or {})) if recaption else None
    if recaptioner is not None:
        recaptioner.check_available()

    def note(summary):
        summaries[summary.stage] = summary.to_dict()
        log(summary.format())

    current = out_dir / "01_ingest.csv"
    note(ingest(src, current, video_root=video_root, extensions=extensions, **common))
    if split:
        target = out_dir / "02_split.csv"
        note(run_stage(SceneSplitStage(**(split_options or {})), current, target, **common))
        current = target
    if quality is not None:  # the paper's first filter signal: video quality (DOVER)
        target = out_dir / "02b_quality.csv"
        note(run_stage(quality, current, target, **common))
        current = target
    target = out_dir / "03_motion.csv"
    note(run_stage(MotionStage(**(motion_options or {})), current, target, **common))
    current = target
    if recaptioner is not None:
        target = out_dir / "04_recaption.csv"
        note(run_stage(recaptioner, current, target, **common))
        current = target
    report = run_filter(current, out_dir / "manifest.csv", filter_config, out_dir / "report")
    log(format_summary(report))
    summaries["filter"] = report
    write_json(summaries, out_dir / "summary.json")
    return summaries
