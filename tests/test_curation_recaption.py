"""Re-captioning with a tiny Llama built and saved in the test: batching, checks, fallback, resume."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing may be downloaded
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from hummingbird_jax.curation import (
    RecaptionStage,
    build_messages,
    check_caption,
    clean_output,
    read_manifest,
    run_stage,
)
from hummingbird_jax.curation.recaption import SYSTEM_PROMPT
from hummingbird_jax.curation.stage import journal_path
from hummingbird_jax.curation.tiny_lm import build_tiny_chat_model

REPO = Path(__file__).resolve().parents[1]
DOG = ("A golden retriever puppy runs across a green lawn as the camera pans to follow it, "
       "warm afternoon sunlight, documentary style.")
WAVES = ("Deep blue waves roll toward a rocky shore under a grey sky while the camera slowly zooms in, "
         "cinematic and moody.")
TAUGHT = [
    (build_messages("a dog runs", "pan"), DOG),
    (build_messages("a man talks"), "I'm sorry, but I cannot help with that request."),
    (build_messages("waves at sea", "zoom_in"), "Here is a detailed caption:\n\n" + WAVES),
    (build_messages("a cat sleeps", "static"), "A cat."),
]
OPTIONS = dict(batch_size=3, max_new_tokens=56, min_words=8, max_words=60)


@pytest.fixture(scope="module")
def taught_model(tmp_path_factory):
    """A random-initialised 2-layer Llama fitted to answer the TAUGHT prompts (seconds on a CPU)."""
    return build_tiny_chat_model(tmp_path_factory.mktemp("tiny_llama"), [SYSTEM_PROMPT], TAUGHT, steps=300)


def _rows():
    captions = [("a dog runs", "pan"), ("a man talks", None), ("waves at sea", "zoom_in"),
                ("a cat sleeps", "static"), ("a bird flies away", "tilt")]
    return pd.DataFrame({"path": [f"/videos/v{i}.mp4" for i in range(len(captions))],
                         "text": [c for c, _ in captions], "camera_motion": [m for _, m in captions]})


@pytest.mark.parametrize("raw,expected", [
    ("\"A red fox trots through fresh snow at dawn, soft pink light, static camera, nature documentary.\"",
     "A red fox trots through fresh snow at dawn, soft pink light, static camera, nature documentary."),
    ("Here is the caption:\n\nA red fox trots through fresh snow at dawn, soft pink light.",
     "A red fox trots through fresh snow at dawn, soft pink light."),
    ("Caption: A red fox trots through fresh snow at dawn, soft pink light.",
     "A red fox trots through fresh snow at dawn, soft pink light."),
])
def test_wrapping_around_the_caption_is_removed(raw, expected):
    assert clean_output(raw) == expected
    assert check_caption(clean_output(raw), min_words=5, max_words=40) is None


@pytest.mark.parametrize("text,truncated,reason", [
    ("", False, "empty"),
    ("I'm sorry, but I can't describe this video for you in any more detail.", False, "refusal"),
    ("As an AI language model I do not watch videos, so here is a guess.", False, "refusal"),
    ("Sure! A red fox trots through fresh snow at dawn under soft pink light.", False, "preamble"),
    ("A red fox trots through fresh snow at dawn under soft pink light and", True, "truncated"),
    ("- a fox\n- snow\n- dawn light over the quiet frozen valley floor", False, "list"),
    ("A fox.", False, "too_short"),
    (" ".join(["fox"] * 50), False, "too_long"),
])
def test_invalid_outputs_are_named(text, truncated, reason):
    assert check_caption(text, min_words=5, max_words=40, truncated=truncated) == reason


def test_prompt_carries_caption_and_camera_hint():
    system, user = build_messages("a dog runs", "dolly_zoom")
    assert system["content"] == SYSTEM_PROMPT and "camera motion" in SYSTEM_PROMPT
    assert "Short caption: a dog runs" in user["content"] and "dolly zoom" in user["content"]
    assert "Camera motion" not in build_messages("a dog runs")[1]["content"]


def test_batched_generation_keeps_good_captions_and_falls_back_on_bad_ones(taught_model, tmp_path):
    summary = run_stage(RecaptionStage(model=str(taught_model), **OPTIONS), _rows(), tmp_path / "out.csv",
                        progress=False)
    out = read_manifest(tmp_path / "out.csv")
    status = out["recaption_status"].tolist()
    assert status[:4] == ["ok", "fallback:refusal", "ok", "fallback:too_short"]
    assert out["text"].tolist()[:4] == [DOG, "a man talks", WAVES, "a cat sleeps"]
    assert out["text_original"].tolist() == _rows()["text"].tolist()
    # An untaught prompt gives whatever a random network says: valid, or the original caption.
    if status[4] == "ok":
        assert check_caption(out["text"][4], min_words=8, max_words=60) is None
    else:
        assert out["text"][4] == "a bird flies away"
    assert summary.counts["ok"] >= 2 and summary.processed == 5


def test_recaption_resumes_after_the_process_is_killed(taught_model, tmp_path):
    rows = pd.concat([_rows().iloc[:4]] * 2, ignore_index=True)
    rows["path"] = [f"/videos/clip{i}.mp4" for i in range(len(rows))]
    rows.to_csv(tmp_path / "in.csv", index=False)
    out = tmp_path / "out.csv"
    command = [sys.executable, "-m", "hummingbird_jax.cli", "data", "recaption", str(tmp_path / "in.csv"),
               "--out", str(out), "--model", str(taught_model), "--batch-size", "2", "--max-new-tokens", "56",
               "--min-words", "8", "--max-words", "60", "--no-progress"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    journal = journal_path(out)
    deadline = time.time() + 120
    while time.time() < deadline and child.poll() is None:
        if journal.exists() and len(journal.read_text().splitlines()) >= 2:  # header + first batch
            child.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    child.wait()
    assert child.returncode == -signal.SIGKILL, child.stderr.read().decode()[-2000:]
    done = len(journal.read_text().splitlines()) - 1
    assert 2 <= done < 8 and not out.exists()

    summary = run_stage(RecaptionStage(model=str(taught_model), batch_size=2, max_new_tokens=56, min_words=8,
                                       max_words=60), tmp_path / "in.csv", out, progress=False)
    assert (summary.reused, summary.processed) == (done, 8 - done)
    result = read_manifest(out)
    assert result["text"].tolist() == [DOG, "a man talks", WAVES, "a cat sleeps"] * 2
    assert result["recaption_status"].tolist() == ["ok", "fallback:refusal", "ok", "fallback:too_short"] * 2


def test_missing_model_is_a_clear_error(tmp_path, capsys):
    from hummingbird_jax.cli import main

    _rows().to_csv(tmp_path / "in.csv", index=False)
    code = main(["data", "recaption", str(tmp_path / "in.csv"), "--out", str(tmp_path / "o.csv"),
                 "--model", str(tmp_path / "no_model"), "--no-progress"])
    assert code == 2
    assert "is not available locally" in capsys.readouterr().err
