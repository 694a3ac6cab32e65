"""Curation of the toy world with the real data pipeline: ingest → motion → filter, captions kept.

The default filter is the paper's: drop unreadable files and dolly-zoom clips, keep captioned clips
with a valid frame rate. The toy captions are exact, so no re-captioning stage runs.
"""

from __future__ import annotations

from pathlib import Path

from hummingbird_jax.curation import read_manifest, run_curation


def curate(raw_manifest, out_dir, *, workers: int = 1, progress: bool = True, log=print) -> dict:
    """Runs the curation chain; returns ``{'manifest': path, 'summary': {...}, 'kept': {...}}``."""
    out_dir = Path(out_dir)
    summary = run_curation(raw_manifest, out_dir, recaption=False, workers=workers, progress=progress, log=log)
    manifest = out_dir / "manifest.csv"
    table = read_manifest(manifest)
    motion = read_manifest(out_dir / "03_motion.csv")
    by_kind = {kind: {"raw": int((motion["kind"] == kind).sum()), "kept": int((table["kind"] == kind).sum())}
               for kind in sorted(motion["kind"].unique())}
    return {"manifest": str(manifest), "summary": summary, "kept": by_kind}
