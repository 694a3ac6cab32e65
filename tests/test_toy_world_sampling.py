"""Sampling the toy models: each method yields decodable videos; costs and consistency are measured."""

import jax
import numpy as np
import pytest

from hummingbird_jax import registry
from hummingbird_jax.models.unet3d import init_unet
from hummingbird_jax.models.vae import init_vae_params
from hummingbird_jax.toy_world.clips import rendered_clips
from hummingbird_jax.toy_world.sampling import (
    SamplerSpec,
    cost,
    generate,
    temporal_consistency,
)
from hummingbird_jax.toy_world.vae import toy_vae_config
from hummingbird_jax.toy_world.world import ClipSpec


def test_temporal_consistency_separates_smooth_clips_from_noise():
    smooth = rendered_clips([ClipSpec("circle", "red", "left", "dark")], size=(32, 32), frames=8, seed=0)
    noise = np.random.default_rng(0).uniform(-1, 1, smooth.shape).astype(np.float32)
    assert temporal_consistency(smooth) > 0.5 > 0.1 > abs(temporal_consistency(noise))


def test_student_is_cheaper_than_teacher_and_sampler_counts_cfg_twice():
    teacher, student = registry.unet("tiny-teacher"), registry.unet("tiny-student", time_cond_proj_dim=256)
    shape = (8, 8, 8, 4)
    t = cost(teacher, SamplerSpec("ddim_cfg", 50), shape)
    s = cost(student, SamplerSpec("lcm", 4), shape)
    assert s["params"] < 0.75 * t["params"]
    assert t["flops"] > 25 * s["flops"]
    assert SamplerSpec("ddim_cfg", 5).unet_calls == 10 and SamplerSpec("lcm", 5).unet_calls == 5
    with pytest.raises(ValueError, match="sampler method 'euler'"):
        SamplerSpec("euler", 4)


def test_lcm_sampling_of_a_student_gives_decoded_videos():
    cfg = registry.unet("tiny-student", time_cond_proj_dim=256)
    params = init_unet(cfg, jax.random.key(0), frames=8, height=8, width=8)
    vae = init_vae_params(toy_vae_config(), jax.random.key(1))
    contexts = np.random.default_rng(0).standard_normal((2, 77, 32)).astype(np.float32)
    videos, seconds = generate(cfg, params, toy_vae_config(), vae, SamplerSpec("lcm", 2), contexts, contexts[0],
                               seed=0, latent_shape=(8, 8, 8, 4), batch_size=2)
    assert videos.shape == (2, 8, 32, 32, 3) and np.isfinite(videos).all() and seconds > 0
    assert np.abs(videos).max() <= 1.0


def test_report_json_maps_each_model_to_its_metrics_and_the_gif_grid_has_every_frame(tmp_path):
    from PIL import Image

    from hummingbird_jax.toy_world.evaluate import (
        STUDENT_SAMPLING_STEPS,
        gif_grid,
        report_json,
        table_markdown,
    )

    def result(name, steps, acc):
        return {"model": name, "sampler": "lcm", "steps": steps, "semantic_accuracy": acc, "temporal_consistency": 0.9, "temporal_flickering": 0.97,
                "latency_s": 0.1 * steps, "params": 10, "flops": 1e9,
                "accuracy_by_label": {"shape": acc, "colour": acc, "motion": acc, "all": acc, "semantic_se": 0.01},
                "motion": {"along_caption_px": 12.8 * acc, "moving_as_captioned": acc, "static_drift_px": 0.5}}

    results = {"teacher": result("teacher", 50, 1.0), "student_pruned": result("student_pruned", 4, 0.2),
               "student_stage1": result("student_stage1", 4, 0.5)}
    results.update({f"student_stage2_{s}": result(f"student_stage2_{s}", s, s / 10) for s in STUDENT_SAMPLING_STEPS})
    summary = report_json(results)
    assert set(summary) == {"teacher", "student_pruned", "student_stage1", "student_stage2", "student_stage2_by_steps"}
    assert set(summary["student_stage2_by_steps"]) == {"1", "2", "4", "8"}
    assert summary["student_stage2"] == summary["student_stage2_by_steps"]["4"]
    assert set(summary["teacher"]) == {"steps", "semantic_accuracy", "motion", "temporal_consistency", "temporal_flickering",
                                       "latency_s", "params", "accuracy_by_label"}
    assert summary["teacher"]["accuracy_by_label"] == {"shape": 1.0, "colour": 1.0, "motion": 1.0, "all": 1.0}
    assert "| teacher | lcm | 50 | 1.000 ± 0.010 |" in table_markdown(results)
    rng = np.random.default_rng(0)
    videos = {name: rng.uniform(-1, 1, (3, 8, 32, 32, 3)).astype(np.float32) for name in ("a", "b")}
    gif_grid(videos, tmp_path / "grid.gif", ["a red circle moving up on a dark background", "a blue square"], rows=2)
    with Image.open(tmp_path / "grid.gif") as image:
        assert image.n_frames == 8 and image.size == (150 + 2 * 68, 16 + 2 * 68)
        first = np.asarray(image.convert("RGB"))
    # the labels are drawn: dark text pixels in the prompt margin and above each column
    assert (first[16:16 + 64, :150] < 100).any() and (first[:16, 150:150 + 64] < 100).any()
