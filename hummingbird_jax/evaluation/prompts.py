"""Which prompt goes with which video.

Videos follow VBench's naming (``<prompt>-<index>.mp4``), or a manifest (``.csv`` with ``path`` and
``prompt`` columns, or ``.json`` ``{file: prompt}``) names them. Prompt lists are text files (one
per line) or ``vbench:DIM``: the prompts of one VBench dimension, read from the installed ``vbench``
package's ``VBench_full_info.json`` (never from the network, and without importing the package).
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import re

from hummingbird_jax.errors import UserError

__all__ = ["read_prompt_list", "read_manifest", "prompt_from_filename", "video_name"]

_VBENCH_NAME = re.compile(r"^(?P<prompt>.+)-(?P<index>\d+)\.mp4$")


def vbench_prompts(dimension: str) -> list[str]:
    spec = importlib.util.find_spec("vbench")
    if spec is None or not spec.origin:
        raise UserError("--prompts vbench:DIM needs the vbench package (pip install --no-deps vbench)")
    info_path = os.path.join(os.path.dirname(spec.origin), "VBench_full_info.json")
    with open(info_path, encoding="utf-8") as fh:
        info = json.load(fh)
    prompts = [entry["prompt_en"] for entry in info if dimension in entry.get("dimension", ())]
    if not prompts:
        known = sorted({d for entry in info for d in entry.get("dimension", ())})
        raise UserError(f"--prompts vbench:{dimension}: no such VBench dimension (known: {', '.join(known)})")
    return prompts


def read_prompt_list(spec: str) -> list[str]:
    """Prompts from ``vbench:DIM`` or a UTF-8 text file with one prompt per line."""
    if spec.startswith("vbench:"):
        return vbench_prompts(spec.split(":", 1)[1])
    try:
        with open(spec, encoding="utf-8") as fh:
            prompts = [line.strip() for line in fh if line.strip()]
    except FileNotFoundError:
        raise UserError(f"prompts file not found: {spec}") from None
    except (UnicodeDecodeError, IsADirectoryError) as err:
        raise UserError(f"prompts file {spec} is not a UTF-8 text file ({type(err).__name__})") from None
    if not prompts:
        raise UserError(f"prompts file {spec} has no prompts (one per line expected)")
    return prompts


def read_manifest(path: str) -> dict[str, str]:
    """``{file name: prompt}`` from a ``.csv`` (columns ``path``, ``prompt``) or ``.json`` manifest."""
    try:
        if path.endswith(".json"):
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
            if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
                raise UserError(f"{path}: a JSON manifest must map file names to prompts")
            return {os.path.basename(k): v for k, v in data.items()}
        with open(path, encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
    except FileNotFoundError:
        raise UserError(f"manifest not found: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError, csv.Error) as err:
        raise UserError(f"{path}: unreadable manifest ({err})") from None
    if not rows or not {"path", "prompt"} <= set(rows[0]):
        raise UserError(f"{path}: a CSV manifest needs 'path' and 'prompt' columns")
    return {os.path.basename(r["path"]): r["prompt"] for r in rows}


def prompt_from_filename(name: str) -> str | None:
    """VBench's ``<prompt>-<index>.mp4`` -> prompt (``None`` for other names)."""
    match = _VBENCH_NAME.match(os.path.basename(name))
    return match.group("prompt") if match else None


def video_name(prompt: str, index: int) -> str:
    """VBench's file name for sample ``index`` of ``prompt`` (``/`` cannot be in a file name)."""
    return f"{prompt.replace('/', ' ')}-{index}.mp4"
