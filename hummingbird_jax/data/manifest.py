"""Training manifests: a CSV or Parquet table with one video per row (``path``, ``text``, optional ``fps``).

Extra columns (scores from the curation pipeline, ids, …) are kept and travel with each example.
Relative paths are taken relative to the manifest's folder, so a manifest and its videos can move
together.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

import numpy as np

from hummingbird_jax.errors import ManifestError

def read_table(path: str):
    """The manifest as a pandas DataFrame (``.csv``/``.tsv``/``.parquet``)."""
    import pandas as pd

    if not os.path.isfile(path):
        raise FileNotFoundError(f"manifest {path!r} does not exist")
    ext = os.path.splitext(path)[1].lower()
    try:
        if ext in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if ext in (".csv", ".tsv", ".txt"):
            return pd.read_csv(path, sep="\t" if ext == ".tsv" else ",", keep_default_na=False)
    except (ValueError, OSError) as err:  # pandas/pyarrow parse errors are ValueError/OSError subclasses
        raise ManifestError(f"manifest {path!r} cannot be parsed: {err}") from err
    raise ManifestError(f"manifest {path!r}: expected a .csv, .tsv or .parquet file")


def file_digest(path: str) -> str:
    """sha256 of a file, to tell whether a resumed job still reads the same manifest."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class Manifest:
    """Random-access rows of a manifest (a Grain data source: ``len`` and ``[i]``).

    Columns are held as numpy arrays, so the object pickles cheaply into worker processes.
    """

    def __init__(self, path: str, *, path_column: str = "path", text_column: str = "text"):
        table = read_table(path)
        missing = [c for c in (path_column, text_column) if c not in table.columns]
        if missing:
            raise ManifestError(
                f"manifest {path!r} has no column(s) {missing}; columns are {list(table.columns)} "
                f"(expected '{path_column}' and '{text_column}', optional 'fps')"
            )
        self.path = path
        root = os.path.dirname(os.path.abspath(path))
        paths = table[path_column].astype(str).to_numpy()
        self.columns: dict[str, np.ndarray] = {
            "path": np.array([p if os.path.isabs(p) else os.path.join(root, p) for p in paths], dtype=object),
            "text": table[text_column].fillna("").astype(str).to_numpy(dtype=object),
        }
        if "fps" in table.columns:
            fps = table["fps"].to_numpy(dtype=np.float64, na_value=np.nan)
            if np.any(fps[~np.isnan(fps)] <= 0):
                raise ManifestError(f"manifest {path!r}: column 'fps' must be positive where given")
            self.columns["fps"] = fps
        for name in table.columns:
            if name not in (path_column, text_column, "fps") and name not in self.columns:
                column = table[name]
                kind = column.dtype.kind
                self.columns[name] = column.to_numpy() if kind in "biuf" else column.astype(str).to_numpy(dtype=object)

    def __len__(self) -> int:
        return len(self.columns["path"])

    def __getitem__(self, index: int) -> dict[str, Any]:
        row = {name: values[index] for name, values in self.columns.items()}
        if "fps" in row and np.isnan(row["fps"]):
            row["fps"] = None
        row["index"] = int(index)
        return row

    def __repr__(self) -> str:
        return f"Manifest({self.path!r}, rows={len(self)}, columns={list(self.columns)})"
