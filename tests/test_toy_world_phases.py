"""The toy-world phases run on the smoke preset, write their outputs, and are skipped when done."""

import json

from hummingbird_jax.toy_world.phases import run_phases
from hummingbird_jax.toy_world.presets import get_preset

FAST = ("world", "curation", "classifier", "vae", "text", "reward")  # the reward also learns from VAE reconstructions


def test_phases_write_metrics_and_a_second_run_skips_them(tmp_path):
    lines = []
    results = run_phases(tmp_path, get_preset("smoke"), phases=FAST, progress=False, log=lines.append)
    kept = results["curation"]["kept_by_kind"]
    assert kept["dolly_zoom"]["kept"] == 0 and kept["zoom_in"]["kept"] == 1 and kept["corrupt"]["kept"] == 0
    # the motion stage may take a shape crossing the frame for a dolly zoom now and then (one in 120 here)
    assert kept["shape"]["raw"] == 120 and kept["shape"]["kept"] >= 118
    assert results["curation"]["training_clips"] == kept["shape"]["kept"] + 1
    assert results["text"]["context_separation"] > 0.01
    for key in ("retrieval_accuracy_held_out", "retrieval_accuracy_held_out_decoded"):
        assert 0.0 <= results["reward"][key] <= 1.0
    for phase in FAST:
        assert json.loads((tmp_path / phase / "metrics.json").read_text())["phase_seconds"] > 0
    assert (tmp_path / "classifier" / "params.msgpack").stat().st_size > 0
    lines.clear()
    again = run_phases(tmp_path, get_preset("smoke"), phases=FAST, progress=False, log=lines.append)
    assert all("skipping" in line for line in lines) and len(lines) == len(FAST)
    assert again["reward"] == results["reward"]


def test_stage_configs_are_valid_engine_experiments(tmp_path):
    import pytest

    from hummingbird_jax.training.config import load_experiment
    from hummingbird_jax.training.trainer import validate

    for name, stage in (("stage1", "stage1"), ("stage2", "stage2")):
        config = load_experiment(f"hummingbird_jax/toy_world/{name}.py", "smoke")
        assert config.stage == stage and config.models.teacher == "tiny-teacher"
        config.models.weights, config.data.path = str(tmp_path), str(tmp_path / "manifest.csv")
        config.models.student_init = config.models.student_init or str(tmp_path)
        validate(config)
        with pytest.raises(ValueError, match="unknown variant 'tiny'"):
            load_experiment(f"hummingbird_jax/toy_world/{name}.py", "tiny")


def test_stage_configs_follow_the_presets_world_and_step_counts():
    from hummingbird_jax.toy_world.presets import (
        PRESETS,
        STAGE1_STEPS,
        STAGE2_STEPS,
        latent_size,
    )
    from hummingbird_jax.training.config import load_experiment

    for variant in PRESETS:
        world = get_preset(variant).world
        for name, steps in (("stage1", STAGE1_STEPS), ("stage2", STAGE2_STEPS)):
            config = load_experiment(f"hummingbird_jax/toy_world/{name}.py", variant)
            assert config.total_steps == steps[variant]
            assert tuple(config.data.size) == world.size and config.data.frames == world.frames
            assert tuple(config.data.latent_size) == latent_size(world.size)
