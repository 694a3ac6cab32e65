"""Ingest: list the source videos and probe each one with PyAV.

Sources:

* a **folder** (searched recursively for video extensions). A caption is taken from a sidecar text
  file with the same stem (``clip.mp4`` + ``clip.txt``); without one, the file stem with ``_``/``-``
  turned into spaces stands in, which is what folder datasets named by content usually mean.
* a **WebVid CSV** (``videoid,contentUrl,duration,page_dir,name``) plus the root the videos were
  downloaded to, laid out as ``ROOT/page_dir/videoid.mp4`` (the layout of the WebVid release and of
  the VideoCrafter data loader). ``name`` becomes ``text``; WebVid's own ``duration`` is kept as
  ``webvid_duration`` because the probed one replaces it.
* any manifest that already has ``path,text``.

Probing adds ``duration`` (s), ``fps``, ``frames``, ``width``, ``height``, ``codec``. A file that
cannot be used is kept with ``error`` set to ``missing``, ``empty`` (zero bytes), ``unreadable`` (not a
media container, or a damaged header), ``no_video_stream`` or ``undecodable`` (first frame fails), so
later stages pass it through and ``filter`` counts it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from hummingbird_jax.curation.stage import Stage
from hummingbird_jax.curation.tables import read_manifest, read_table
from hummingbird_jax.errors import ManifestError

VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".wmv", ".flv", ".gif")
WEBVID_COLUMNS = ("videoid", "contentUrl", "duration", "page_dir", "name")
PROBE_COLUMNS = ("duration", "fps", "frames", "width", "height", "codec")


def folder_sources(root: str | os.PathLike, extensions=VIDEO_EXTENSIONS) -> pd.DataFrame:
    root = Path(root).resolve()
    extensions = {e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions}
    files = sorted(
        p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in extensions and not p.name.startswith(".")
    )
    rows = []
    for file in files:
        sidecar = file.with_suffix(".txt")
        if sidecar.is_file():
            text, origin = sidecar.read_text(errors="replace").strip(), "sidecar"
        else:
            text, origin = file.stem.replace("_", " ").replace("-", " ").strip(), "filename"
        rows.append({"path": str(file), "text": text, "caption_source": origin})
    return pd.DataFrame(rows, columns=["path", "text", "caption_source"])


def webvid_sources(csv: str | os.PathLike, video_root: str | os.PathLike | None = None) -> pd.DataFrame:
    table = read_table(csv, text_columns=("videoid", "page_dir"))
    missing = [c for c in ("videoid", "page_dir", "name") if c not in table.columns]
    if missing:
        raise ManifestError(f"WebVid CSV '{csv}' lacks column(s) {missing}; expected {','.join(WEBVID_COLUMNS)}")
    root = Path(video_root).resolve() if video_root else Path(csv).resolve().parent
    frame = table.rename(columns={"duration": "webvid_duration"})
    frame.insert(0, "path", [str(root / str(d) / f"{v}.mp4") for d, v in zip(table["page_dir"], table["videoid"])])
    frame.insert(1, "text", table["name"].fillna("").astype(str))
    return frame.drop(columns=["name"])


def sources(src: str | os.PathLike, video_root=None, extensions=VIDEO_EXTENSIONS) -> pd.DataFrame:
    """The rows to probe, from a folder, a WebVid CSV or a ``path,text`` manifest."""
    src = Path(src)
    if src.is_dir():
        return folder_sources(src, extensions)
    if not src.exists():
        raise FileNotFoundError(f"source '{src}' does not exist (expected a folder of videos or a CSV/Parquet)")
    columns = set(read_table(src).columns)
    if {"videoid", "page_dir", "name"} <= columns:
        return webvid_sources(src, video_root)
    if {"path", "text"} <= columns:
        return read_manifest(src)
    raise ManifestError(
        f"'{src}' is neither a WebVid CSV ({','.join(WEBVID_COLUMNS)}) nor a manifest with path,text; "
        f"it has {sorted(columns)}"
    )


def probe_video(path: str) -> dict:
    """Container metadata of one video, or ``{"error": "<reason>: <detail>"}``."""
    import av

    file = Path(path)
    if not file.is_file():
        return {"error": f"missing: {path}"}
    if file.stat().st_size == 0:
        return {"error": "empty: zero-byte file"}
    try:
        container = av.open(str(file))
    except (av.FFmpegError, OSError, UnicodeDecodeError) as err:
        return {"error": f"unreadable: {err}"}
    with container:
        if not container.streams.video:
            return {"error": "no_video_stream: the file has no video stream"}
        stream = container.streams.video[0]
        try:
            first = next(container.decode(stream), None)
        except (av.FFmpegError, OSError) as err:
            return {"error": f"undecodable: {err}"}
        if first is None:
            return {"error": "undecodable: no frame could be decoded"}
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        if stream.duration and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        elif container.duration:
            duration = container.duration / 1_000_000
        else:
            duration = 0.0
        frames = int(stream.frames) if stream.frames else int(round(duration * fps))
        if fps <= 0 or frames <= 0:
            return {"error": f"undecodable: no frame rate or frame count (fps={fps}, frames={frames})"}
        return {
            "duration": round(duration, 4),
            "fps": round(fps, 4),
            "frames": frames,
            "width": int(first.width),
            "height": int(first.height),
            "codec": stream.codec_context.name,
        }


class ProbeStage(Stage):
    """``ingest``: container metadata per file; decodes one frame to catch damaged files."""

    name = "ingest"
    columns = PROBE_COLUMNS
    kind = "cpu"
    batch_size = 4

    def process(self, rows):
        return [probe_video(row["path"]) for row in rows]
