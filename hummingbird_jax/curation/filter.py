"""Filter: thresholds from a config file on any columns -> the training manifest and a report.

Config (YAML or JSON)::

    drop_errors: true            # rows with an ``error`` from any stage go first ("error:<reason>")
    rules:
      duration: {min: 2.0}
      motion_magnitude: {min: 0.0005, max: 0.05}
      camera_motion: {exclude: [dolly_zoom]}
      recaption_status: {include: [ok]}
      dover_overall: {min: 0.5, if_present: true}   # skipped when the column does not exist
      dover_technical: {min: 0.3, if_present: true} # DOVER scores from the quality stage, in (0, 1)

Rule keys: ``min``, ``max`` (numeric, inclusive bounds; a missing value fails), ``include``,
``exclude`` (lists of allowed/forbidden values), ``required`` (non-empty), ``if_present``.
A rule on a column the manifest lacks is an error unless ``if_present`` is set.

Output: the kept rows with ``path,text,fps`` first (paths absolute), every other column after.
Report (``<out>.report/`` by default): ``report.json`` and ``report.md`` with rows in/out, rows
removed per reason (first failing rule, so they add up) and rows failing each rule (any order),
plus a PNG histogram per numeric column (kept vs removed, thresholds marked) and a bar chart per
label column that has a rule.
"""

from __future__ import annotations

import collections
import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from hummingbird_jax.curation.stage import ERROR_COLUMN, failure_reason, has_error
from hummingbird_jax.curation.tables import read_manifest, write_json, write_manifest, write_text

RULE_KEYS = {"min", "max", "include", "exclude", "required", "if_present"}
LEADING_COLUMNS = ("path", "text", "fps")
NO_HISTOGRAM = {"start_frame", "end_frame", "scene_index", "videoid", "page_dir"}
# Scores with a fixed range get fixed bins, so reports of different runs compare at a glance.
FIXED_RANGE = {"dover_technical": (0.0, 1.0), "dover_aesthetic": (0.0, 1.0), "dover_overall": (0.0, 1.0)}

DEFAULT_CONFIG = {
    "drop_errors": True,
    "rules": {
        "text": {"required": True},
        "fps": {"min": 1.0},
        "camera_motion": {"exclude": ["dolly_zoom"], "if_present": True},
    },
}


class FilterConfigError(ValueError):
    """The filter config is malformed or names columns the manifest lacks."""


def load_config(path: str | os.PathLike | None) -> dict:
    if path is None:
        return json.loads(json.dumps(DEFAULT_CONFIG))
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"filter config '{path}' does not exist")
    import yaml

    try:
        config = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise FilterConfigError(f"filter config '{path}' is not valid YAML/JSON: {err}") from err
    return validate_config(config, str(path))


def validate_config(config: dict, where: str = "filter config") -> dict:
    if not isinstance(config, dict) or not set(config) <= {"drop_errors", "rules"}:
        raise FilterConfigError(f"{where}: expected a mapping with keys 'drop_errors' and 'rules', got {config!r}")
    rules = config.get("rules") or {}
    if not isinstance(rules, dict):
        raise FilterConfigError(f"{where}: 'rules' must map column names to rules, got {type(rules).__name__}")
    for column, rule in rules.items():
        if not isinstance(rule, dict) or not rule or not set(rule) <= RULE_KEYS:
            raise FilterConfigError(
                f"{where}: rule for column '{column}' must be a mapping with keys from {sorted(RULE_KEYS)}, got {rule!r}"
            )
        for key in ("min", "max"):
            if key in rule and not isinstance(rule[key], (int, float)):
                raise FilterConfigError(f"{where}: '{column}.{key}' must be a number, got {rule[key]!r}")
        for key in ("include", "exclude"):
            if key in rule and not isinstance(rule[key], list):
                raise FilterConfigError(f"{where}: '{column}.{key}' must be a list, got {rule[key]!r}")
    return {"drop_errors": bool(config.get("drop_errors", True)), "rules": rules}


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or str(value).strip() == ""


def _label(value) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def rule_failures(frame: pd.DataFrame, column: str, rule: dict) -> list[tuple[str, pd.Series]]:
    """(reason, failing mask) for each check of one rule."""
    values = frame[column]
    missing = values.map(_missing)
    checks = []
    if rule.get("required"):
        checks.append((f"{column} missing", missing))
    if "min" in rule or "max" in rule:
        numbers = pd.to_numeric(values, errors="coerce")
        if "min" in rule:
            checks.append((f"{column}<{rule['min']}", numbers.isna() | (numbers < rule["min"])))
        if "max" in rule:
            checks.append((f"{column}>{rule['max']}", numbers.isna() | (numbers > rule["max"])))
    labels = values.map(lambda v: "" if _missing(v) else _label(v))
    if "include" in rule:
        allowed = {_label(v) for v in rule["include"]}
        checks.append((f"{column} not in {sorted(allowed)}", ~labels.isin(allowed)))
    if "exclude" in rule:
        forbidden = {_label(v) for v in rule["exclude"]}
        checks.append((f"{column} in {sorted(forbidden)}", labels.isin(forbidden)))
    return checks


def apply_filter(frame: pd.DataFrame, config: dict, where: str = "manifest"):
    """Returns (kept rows, first-failure reason per row or None, {reason: rows failing it})."""
    reasons: list[str | None] = [None] * len(frame)
    failing: dict[str, int] = {}
    if config["drop_errors"] and ERROR_COLUMN in frame.columns:
        for i, error in enumerate(frame[ERROR_COLUMN]):
            if has_error(error):
                reasons[i] = f"error:{failure_reason(error)}"
        failing.update(collections.Counter(r for r in reasons if r))
    for column, rule in config["rules"].items():
        if column not in frame.columns:
            if rule.get("if_present"):
                continue
            raise FilterConfigError(
                f"filter rule on column '{column}', which {where} lacks; columns: {list(frame.columns)} "
                f"(set 'if_present: true' to skip it)"
            )
        for reason, mask in rule_failures(frame, column, rule):
            mask = mask.to_numpy(bool)
            failing[reason] = int(mask.sum())
            for i in np.flatnonzero(mask):
                if reasons[i] is None:
                    reasons[i] = reason
    keep = np.array([r is None for r in reasons], bool)
    kept = frame[keep].reset_index(drop=True)
    if ERROR_COLUMN in kept.columns and not kept[ERROR_COLUMN].map(has_error).any():
        kept = kept.drop(columns=[ERROR_COLUMN])
    order = [c for c in LEADING_COLUMNS if c in kept.columns] + [c for c in kept.columns if c not in LEADING_COLUMNS]
    return kept[order], reasons, failing


def plot_histograms(frame: pd.DataFrame, reasons, config: dict, folder: Path) -> dict[str, str]:
    """A PNG per numeric column (and per ruled label column) showing kept vs removed rows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    kept = np.array([r is None for r in reasons], bool)
    rules = config["rules"]
    written = {}
    for column in frame.columns:
        if column in NO_HISTOGRAM:
            continue
        series = frame[column]
        numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
        if not numeric and not {"include", "exclude"} & set(rules.get(column, {})):
            continue
        fig, ax = plt.subplots(figsize=(6, 3.5))
        if numeric:
            values = pd.to_numeric(series, errors="coerce").to_numpy(float)
            finite = np.isfinite(values)
            if not finite.any():
                plt.close(fig)
                continue
            bins = np.histogram_bin_edges(values[finite], bins=30, range=FIXED_RANGE.get(column))
            ax.hist([values[finite & kept], values[finite & ~kept]], bins=bins, stacked=True,
                    label=["kept", "removed"], color=["tab:blue", "tab:red"])
            for key in ("min", "max"):
                if key in rules.get(column, {}):
                    ax.axvline(rules[column][key], color="black", linestyle="--", label=f"{key} {rules[column][key]}")
        else:
            labels = series.map(lambda v: "(missing)" if _missing(v) else _label(v))
            names = sorted(labels.unique())
            counts_kept = [int(((labels == n) & kept).sum()) for n in names]
            counts_removed = [int(((labels == n) & ~kept).sum()) for n in names]
            ax.bar(names, counts_kept, label="kept", color="tab:blue")
            ax.bar(names, counts_removed, bottom=counts_kept, label="removed", color="tab:red")
            ax.tick_params(axis="x", rotation=30)
        ax.set_title(column)
        ax.set_ylabel("rows")
        ax.legend(fontsize=8)
        fig.tight_layout()
        target = folder / f"{column}.png"
        tmp = folder / f".{column}.tmp.png"
        fig.savefig(tmp, dpi=80)
        plt.close(fig)
        os.replace(tmp, target)
        written[column] = target.name
    return written


def run_filter(source, out, config_path=None, report_dir=None) -> dict:
    """Reads ``source``, writes the kept rows to ``out`` and the report; returns the report dict."""
    config = load_config(config_path)
    frame = read_manifest(source)
    kept, reasons, failing = apply_filter(frame, config, where=f"manifest '{source}'")
    out = Path(out)
    write_manifest(kept, out)
    report_dir = Path(report_dir) if report_dir else out.with_name(out.name + ".report")
    histograms = plot_histograms(frame, reasons, config, report_dir)
    removed = collections.Counter(r for r in reasons if r)
    report = {
        "input": str(source),
        "output": str(out),
        "config": str(config_path) if config_path else "default",
        "rules": config,
        "rows_in": len(frame),
        "rows_out": len(kept),
        "removed": dict(removed.most_common()),
        "failing": failing,
        "histograms": histograms,
    }
    write_json(report, report_dir / "report.json")
    write_text(_markdown(report), report_dir / "report.md")
    return report


def _markdown(report: dict) -> str:
    lines = [
        "# Filter report",
        "",
        f"- input: `{report['input']}`",
        f"- output: `{report['output']}`",
        f"- config: `{report['config']}`",
        f"- rows in: {report['rows_in']}, rows out: {report['rows_out']}, "
        f"removed: {report['rows_in'] - report['rows_out']}",
        "",
        "| reason | removed (first failing rule) | failing (any) |",
        "|---|---:|---:|",
    ]
    for reason in sorted(set(report["removed"]) | set(report["failing"])):
        lines.append(f"| `{reason}` | {report['removed'].get(reason, 0)} | {report['failing'].get(reason, 0)} |")
    lines += ["", "## Histograms", ""]
    lines += [f"![{column}]({name})" for column, name in report["histograms"].items()]
    return "\n".join(lines) + "\n"


def format_summary(report: dict) -> str:
    removed = ", ".join(f"{k}={v}" for k, v in report["removed"].items()) or "none"
    return (f"[filter] {report['rows_in']} rows in -> {report['rows_out']} rows out ({report['output']})\n"
            f"  removed: {removed}")
