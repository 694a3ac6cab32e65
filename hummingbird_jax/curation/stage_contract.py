"""The contract every curation stage implements (:class:`Stage`) and how a batch of manifest rows goes
through one, shared by the local runner (:mod:`hummingbird_jax.curation.stage`) and the Ray engine
(:mod:`hummingbird_jax.curation.ray_engine`)."""

from __future__ import annotations

import inspect
import math
from typing import Any, Sequence

import pandas as pd

ERROR_COLUMN = "error"


class Stage:
    """Base class of a column producer. Subclasses set the class attributes and implement ``process``.

    Attributes:
      name: short name, used in logs, error reasons and the journal header.
      columns: the columns ``process`` returns (``error`` is always allowed in addition).
      kind: ``"cpu"`` (rows go to a process pool) or ``"model"`` (batches in the calling process).
      batch_size: rows handed to ``process`` at once.
      summary_column: a label column whose value counts are shown in the summary.
    """

    name: str = "stage"
    columns: tuple[str, ...] = ()
    kind: str = "cpu"
    batch_size: int = 1
    summary_column: str | None = None

    @classmethod
    def default(cls, name: str):
        """The constructor's default for keyword ``name``: the one value a command line offers as its default."""
        return inspect.signature(cls).parameters[name].default

    def params(self) -> dict[str, Any]:
        """Settings that change the results; a journal written with other values is discarded."""
        return {}

    def setup(self) -> None:
        """Loads heavy state (a model, a detector) once per process before the first ``process``."""

    def process(self, rows: list[dict]) -> list[dict]:
        raise NotImplementedError

    def finalize(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Turns the merged table into the output table (e.g. one row per detected scene)."""
        return frame


def is_missing(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def clean_value(value):
    if is_missing(value):
        return None
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        return value.item()
    return value


def row_records(frame: pd.DataFrame, indices: Sequence[int]) -> list[dict]:
    records = frame.iloc[list(indices)].to_dict("records")
    return [{k: clean_value(v) for k, v in r.items()} for r in records]


def process_rows(stage: Stage, rows: list[dict]) -> list[dict]:
    """Runs ``stage.process``; on an exception retries row by row so one bad row fails alone."""
    try:
        results = stage.process(rows)
        if len(results) != len(rows):
            raise RuntimeError(f"returned {len(results)} results for {len(rows)} rows")
        return results
    except Exception as err:  # noqa: BLE001 -- a failing row must not stop the run
        if len(rows) == 1:
            return [{ERROR_COLUMN: f"{stage.name}_failed: {type(err).__name__}: {err}"}]
        return [r for row in rows for r in process_rows(stage, [row])]
