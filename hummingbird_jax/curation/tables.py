"""Curation tables: the CSV or Parquet manifests every curation stage reads and writes.

A manifest has at least ``path`` (one video file) and ``text`` (its caption); stages add columns and
keep every column they do not own. Paths are stored absolute: a relative path read from a manifest
is resolved against the manifest's own directory, so a manifest can be moved together with its videos.
Writes are atomic (temporary file, then ``os.replace``) so an interrupted job never leaves half a table.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from hummingbird_jax.errors import ManifestError

REQUIRED_COLUMNS = ("path", "text")
# Counts that CSV turns into floats when a row lacks them; restored as nullable integers on read.
INTEGER_COLUMNS = ("frames", "width", "height", "start_frame", "end_frame", "scene_index", "video_frames")
FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def manifest_format(path: str | os.PathLike) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ManifestError(
            f"manifest '{path}': unknown extension '{suffix}' (expected one of {', '.join(FORMATS)})"
        )
    return FORMATS[suffix]


def read_table(path: str | os.PathLike, text_columns=()) -> pd.DataFrame:
    """Reads a CSV/Parquet table as is. Empty CSV cells become NaN; the strings "NA"/"null" stay text.

    ``text_columns`` are read as strings even if they look numeric (WebVid's ``page_dir`` "0001").
    """
    path = Path(path)
    fmt = manifest_format(path)
    if not path.is_file():
        raise ManifestError(f"manifest '{path}' does not exist")
    try:
        if fmt == "csv":
            return pd.read_csv(path, keep_default_na=False, na_values=[""], dtype={c: str for c in text_columns})
        frame = pd.read_parquet(path)
        for column in text_columns:
            if column in frame.columns:
                frame[column] = frame[column].astype(str)
        return frame
    except (ValueError, OSError, pd.errors.ParserError) as err:
        raise ManifestError(f"manifest '{path}' could not be read as {fmt}: {err}") from err


def read_manifest(path: str | os.PathLike, required=REQUIRED_COLUMNS) -> pd.DataFrame:
    """Reads a manifest, checks its required columns and makes ``path`` absolute."""
    frame = read_table(path)
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ManifestError(
            f"manifest '{path}' lacks column(s) {missing}; it has {list(frame.columns)}"
        )
    if "path" in frame.columns:
        frame["path"] = resolve_paths(frame["path"], Path(path).resolve().parent)
    if "text" in frame.columns:
        frame["text"] = frame["text"].fillna("").astype(str)
    for column in INTEGER_COLUMNS:
        if column in frame.columns and pd.api.types.is_float_dtype(frame[column]):
            values = frame[column]
            if (values.dropna() % 1 == 0).all():
                frame[column] = values.astype("Int64")
    return frame


def resolve_paths(paths: pd.Series, root: Path) -> pd.Series:
    def resolve(p):
        p = Path(str(p)).expanduser()
        return str(p if p.is_absolute() else (root / p).resolve())

    return paths.map(resolve)


def write_manifest(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Atomically writes ``frame`` as CSV or Parquet (chosen by extension)."""
    path = Path(path)
    fmt = manifest_format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        if fmt == "csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def write_json(obj, path: str | os.PathLike) -> Path:
    """Atomically writes JSON (used for sidecar metadata and reports)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")
    os.replace(tmp, path)
    return path


def write_text(text: str, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


def _json_default(value):
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")
