"""Prompts for ``hummingbird eval``: VBench's file naming, manifests, and prompt lists read from a
``vbench`` package's ``VBench_full_info.json`` without importing it."""

import json

import pytest

from hummingbird_jax.errors import UserError
from hummingbird_jax.evaluation.prompts import (
    prompt_from_filename,
    read_manifest,
    read_prompt_list,
    video_name,
)


def test_vbench_file_names_round_trip_to_their_prompt():
    name = video_name("A cat, dancing - on a roof", 3)
    assert name == "A cat, dancing - on a roof-3.mp4"
    assert prompt_from_filename(name) == "A cat, dancing - on a roof"
    assert prompt_from_filename("clip.mp4") is None


def test_manifests_map_file_names_to_prompts(tmp_path):
    (tmp_path / "m.csv").write_text("path,prompt\nvideos/a.mp4,a red ball\nb.mp4,\"a cat, sleeping\"\n")
    assert read_manifest(str(tmp_path / "m.csv")) == {"a.mp4": "a red ball", "b.mp4": "a cat, sleeping"}
    (tmp_path / "m.json").write_text(json.dumps({"x/a.mp4": "a red ball"}))
    assert read_manifest(str(tmp_path / "m.json")) == {"a.mp4": "a red ball"}
    (tmp_path / "bad.csv").write_text("file,text\na.mp4,x\n")
    with pytest.raises(UserError, match="'path' and 'prompt' columns"):
        read_manifest(str(tmp_path / "bad.csv"))


def test_vbench_prompt_lists_come_from_the_installed_package_file(tmp_path, monkeypatch):
    package = tmp_path / "site" / "vbench"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("raise ImportError('the package is never imported for its prompts')\n")
    (package / "VBench_full_info.json").write_text(json.dumps([
        {"prompt_en": "In a still frame, a stop sign", "dimension": ["temporal_flickering"]},
        {"prompt_en": "a bear climbing a tree", "dimension": ["subject_consistency", "dynamic_degree"]},
        {"prompt_en": "a bear walking", "dimension": ["subject_consistency"]},
    ]))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    assert read_prompt_list("vbench:subject_consistency") == ["a bear climbing a tree", "a bear walking"]
    with pytest.raises(UserError, match="no such VBench dimension.*known: dynamic_degree, subject_consistency"):
        read_prompt_list("vbench:colourfulness")
