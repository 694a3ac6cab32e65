"""The one runner every curation stage goes through (the contract itself: :mod:`.stage_contract`).

A stage is a *column producer*: given manifest rows it returns, for each row, a dict of new column
values (and optionally ``error``). Probing, scene splitting, motion analysis, re-captioning and
future scorers (e.g. DOVER video quality) all implement :class:`Stage`; :func:`run_stage` supplies
what they have in common:

* **resumable** — each finished row is appended to a journal next to the output
  (``OUT.journal.jsonl``: one header line with the stage name and parameters, then one JSON line per
  row, flushed and fsynced after each batch). Re-running skips every row whose key is in the journal;
  a torn last line from a killed process is dropped; a journal written with other parameters is
  discarded. Deleting the journal (or ``restart=True``) recomputes everything.
* **atomic** — the output manifest is written to a temporary file and renamed into place.
* **parallel** — ``kind="cpu"`` stages run in a pool of ``workers`` processes (spawned, so no
  library state is forked); ``kind="model"`` stages run in this process in batches of
  ``batch_size`` rows, which is how a model wants to be fed.
* **failures never stop the run** — an exception in a row becomes ``error="<stage>_failed: …"``;
  rows that already carry an ``error`` from an earlier stage pass through untouched.
* **progress and summary** — a tqdm bar, then rows in/out, rows reused, failures by reason and the
  distribution of the stage's label column.

Rows are keyed by ``path`` (+ ``start_frame``/``end_frame`` for clips, + an occurrence counter for
duplicates) and the file's identity (size, modification time), so a journal survives rows being
appended to or reordered in the input, and a file replaced since (a bad video swapped for a good one)
is processed again.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import math
import os
import sys
import time
from concurrent import futures
from multiprocessing import get_context
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from hummingbird_jax.curation import ray_engine
from hummingbird_jax.curation.stage_contract import (  # noqa: F401 -- Stage and ERROR_COLUMN are this module's API too
    ERROR_COLUMN,
    Stage,
    clean_value,
    is_missing,
    process_rows,
    row_records,
)
from hummingbird_jax.curation.tables import read_manifest, write_manifest


@dataclasses.dataclass
class StageSummary:
    stage: str
    output: str
    rows_in: int
    rows_out: int
    processed: int
    reused: int
    skipped_with_error: int
    failures: dict[str, int]
    counts: dict[str, int]
    seconds: float
    complete: bool = True

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def format(self) -> str:
        lines = [
            f"[{self.stage}] {self.rows_in} rows in -> {self.rows_out} rows out ({self.output})",
            f"  processed now: {self.processed}, reused from journal: {self.reused}, "
            f"passed through with an earlier error: {self.skipped_with_error}, {self.seconds:.1f} s",
        ]
        if self.failures:
            lines.append("  failures: " + ", ".join(f"{k}={v}" for k, v in sorted(self.failures.items())))
        if self.counts:
            lines.append("  " + ", ".join(f"{k}={v}" for k, v in sorted(self.counts.items())))
        if not self.complete:
            lines.append("  INCOMPLETE: interrupted; run the same command again to resume")
        return "\n".join(lines)


def journal_path(out: str | os.PathLike) -> Path:
    out = Path(out)
    return out.with_name(out.name + ".journal.jsonl")


def has_error(value) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value)) and str(value) != ""


def failure_reason(error: str) -> str:
    """``"unreadable: moov atom not found"`` -> ``"unreadable"``."""
    return str(error).split(":", 1)[0].strip() or "unknown"


def file_identity(path: str) -> str:
    """``size:mtime_ns`` of the file at ``path`` (``""`` when there is none)."""
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return ""
    return f"{info.st_size}:{info.st_mtime_ns}"


def row_keys(frame: pd.DataFrame) -> list[str]:
    """Stable identity of each row: path (+ clip span) + occurrence index among identical ones, then
    ``@size:mtime_ns`` when the file exists."""
    parts = [frame["path"].astype(str)]
    for column in ("start_frame", "end_frame"):
        if column in frame.columns:
            parts.append(frame[column].map(lambda v: "" if pd.isna(v) else str(int(v))))
    base = parts[0]
    for part in parts[1:]:
        base = base + "|" + part
    occurrence = base.groupby(base).cumcount()
    identity = [file_identity(p) for p in frame["path"].astype(str)]
    return [f"{b}#{n}" + (f"@{i}" if i else "") for b, n, i in zip(base, occurrence, identity)]


_WORKER_STAGE: Stage | None = None


def _init_worker(stage: Stage) -> None:
    global _WORKER_STAGE
    _WORKER_STAGE = stage
    stage.setup()


def _worker_process(rows: list[dict]) -> list[dict]:
    return process_rows(_WORKER_STAGE, rows)


class _Journal:
    """Append-only JSONL record of finished rows, one fsync per batch."""

    def __init__(self, path: Path, header: dict, restart: bool, log):
        self.path = path
        self.done: dict[str, dict] = {}
        if path.exists() and not restart:
            self.done = self._load(path, header, log)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        with open(tmp, "w") as f:  # rewrite compactly: drops a torn last line from a killed run
            f.write(json.dumps(header) + "\n")
            for key, values in self.done.items():
                f.write(json.dumps({"key": key, "values": values}) + "\n")
        os.replace(tmp, path)
        self._file = open(path, "a")

    @staticmethod
    def _load(path: Path, header: dict, log) -> dict[str, dict]:
        lines = path.read_text().splitlines()
        try:
            found = json.loads(lines[0]) if lines else None
        except json.JSONDecodeError:
            found = None
        if found != header:
            log(f"journal {path} was written by another stage or other settings; starting over")
            return {}
        done = {}
        for number, line in enumerate(lines[1:], start=2):
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                if number == len(lines):  # torn write of a killed process
                    continue
                raise ValueError(f"journal {path} line {number} is not JSON; delete the file to start over")
            done[entry["key"]] = entry["values"]
        return done

    def add(self, items: list[tuple[str, dict]]) -> None:
        for key, values in items:
            self.done[key] = values
            self._file.write(json.dumps({"key": key, "values": values}) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_stage(
    stage: Stage,
    source: str | os.PathLike | pd.DataFrame,
    out: str | os.PathLike,
    *,
    workers: int = 1,
    restart: bool = False,
    progress: bool = True,
    log=_log,
    engine: str = "local",
    ray=None,
) -> StageSummary:
    """Runs ``stage`` over every row of ``source`` (a manifest path or a table) and writes ``out``.

    ``engine="ray"`` computes the pending rows on Ray Data (``ray``: a
    :class:`hummingbird_jax.data.ray_cluster.RayOptions`); journal, merge and output are the same.
    Returns the summary; if interrupted (Ctrl-C) the journal keeps finished rows, no output is
    written and ``KeyboardInterrupt`` propagates.
    """
    start = time.perf_counter()
    frame = source.reset_index(drop=True) if isinstance(source, pd.DataFrame) else read_manifest(source)
    out = Path(out)
    keys = row_keys(frame)
    errors_in = frame[ERROR_COLUMN].tolist() if ERROR_COLUMN in frame.columns else [None] * len(frame)
    header = {"journal": 1, "stage": stage.name, "params": stage.params()}
    journal = _Journal(journal_path(out), header, restart, log)
    reused = sum(1 for k, e in zip(keys, errors_in) if k in journal.done and not has_error(e))
    pending = [i for i, (k, e) in enumerate(zip(keys, errors_in)) if k not in journal.done and not has_error(e)]
    skipped = sum(1 for e in errors_in if has_error(e))
    if reused:
        log(f"[{stage.name}] resuming: {reused} rows already done, {len(pending)} to go")
    size = max(1, int(stage.batch_size))
    chunks = [pending[i : i + size] for i in range(0, len(pending), size)]
    allowed = set(stage.columns) | {ERROR_COLUMN}

    def record(chunk: list[int], results: list[dict]) -> None:
        for result in results:
            unknown = set(result) - allowed
            if unknown:
                raise RuntimeError(f"stage {stage.name} returned undeclared columns {sorted(unknown)}")
        journal.add([(keys[i], {k: clean_value(v) for k, v in r.items()}) for i, r in zip(chunk, results)])
        bar.update(len(chunk))

    bar = tqdm(total=len(pending), desc=stage.name, unit="row", disable=not progress or not pending)
    try:
        if chunks and engine == "ray":
            ray_engine.run_chunks(stage, frame, chunks, record, ray)
        elif chunks and (stage.kind == "model" or workers <= 1):
            stage.setup()
            for chunk in chunks:
                record(chunk, process_rows(stage, row_records(frame, chunk)))
        elif chunks:
            _run_pool(stage, frame, chunks, workers, record)
    finally:
        bar.close()
        journal.close()

    merged = _merge(frame, keys, errors_in, journal.done, stage.columns)
    result = stage.finalize(merged)
    write_manifest(result, out)
    counts = {}
    if stage.summary_column and stage.summary_column in result.columns:
        counts = {str(k): int(v) for k, v in result[stage.summary_column].dropna().value_counts().items()}
    failures = collections.Counter(
        failure_reason(journal.done[k][ERROR_COLUMN])
        for k in keys
        if k in journal.done and has_error(journal.done[k].get(ERROR_COLUMN))
    )
    return StageSummary(
        stage=stage.name,
        output=str(out),
        rows_in=len(frame),
        rows_out=len(result),
        processed=len(pending),
        reused=reused,
        skipped_with_error=skipped,
        failures=dict(failures),
        counts=counts,
        seconds=round(time.perf_counter() - start, 3),
    )


def _run_pool(stage, frame, chunks, workers, record) -> None:
    context = get_context("spawn")
    with futures.ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_init_worker, initargs=(stage,)
    ) as pool:
        in_flight: dict[futures.Future, list[int]] = {}
        queue = collections.deque(chunks)
        try:
            while queue or in_flight:
                while queue and len(in_flight) < 2 * workers:
                    chunk = queue.popleft()
                    in_flight[pool.submit(_worker_process, row_records(frame, chunk))] = chunk
                done, _ = futures.wait(in_flight, return_when=futures.FIRST_COMPLETED)
                for future in done:
                    record(in_flight.pop(future), future.result())
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def _merge(frame, keys, errors_in, done, columns) -> pd.DataFrame:
    merged = frame.copy()
    for column in columns:
        # A stage may rewrite a column (e.g. ``text``); rows it skipped or failed keep the old value.
        old = frame[column].tolist() if column in frame.columns else [None] * len(frame)
        values = [done[k][column] if k in done and column in done[k] else before for k, before in zip(keys, old)]
        merged[column] = _tidy_object_column(pd.Series(values, index=merged.index, dtype=object))
    errors = []
    for key, before in zip(keys, errors_in):
        if has_error(before):
            errors.append(before)
        else:
            errors.append(done.get(key, {}).get(ERROR_COLUMN))
    merged[ERROR_COLUMN] = pd.Series(errors, index=merged.index, dtype=object)
    return merged


def _tidy_object_column(series: pd.Series) -> pd.Series:
    """``[1.0, None]`` as float64, so numeric columns stay numeric in CSV and Parquet."""
    values = [v for v in series if not is_missing(v)]
    if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return pd.Series([None if is_missing(v) else v for v in series], index=series.index, dtype="Int64")
    if values and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return pd.to_numeric(series, errors="coerce")
    return series
