"""``hummingbird bench latency`` end to end at a tiny size, and its input checks; with the official code
present (``HUMMINGBIRD_OFFICIAL_CODE``), the whole generation through its PyTorch modules beside it."""

import json
import os

import jax
import pytest

from hummingbird_jax import cli, registry
from hummingbird_jax.models.unet_stats import forward_flops

TINY = ["--model", "tiny-0.7b", "--random-init", "--frames", "2", "--height", "64", "--width", "64", "--steps", "2",
        "--dtype", "float32", "--no-compilation-cache", "--notes", "test run"]  # float32 whatever the CPU
STAGES = ("text", "unet_step", "unet_loop", "vae_decode", "end_to_end")
OFFICIAL_CODE = os.environ.get("HUMMINGBIRD_OFFICIAL_CODE")


def test_tiny_latency_run_writes_json_and_markdown(tmp_path, capsys):
    assert cli.main(["bench", "latency", *TINY, "--warmup", "1", "--repeats", "2", "--out", str(tmp_path)]) == 0
    assert "timed run 3/3" in capsys.readouterr().out
    stem = "latency_tiny-0.7b_2x64x64_2steps_float32_cpu"
    result = json.loads((tmp_path / f"{stem}.json").read_text())

    setup = result["setup"]
    assert (setup["steps"], setup["frames"], setup["warmup"], setup["repeats"], setup["teacher"]) == (2, 2, 1, 2, False)
    stages = result["stages"]
    for name in ("text", "unet_step", "unet_loop", "vae_decode", "end_to_end"):
        row = stages[name]
        assert len(row["runs_s"]) == 2 and 0 < row["min_s"] <= row["median_s"] <= row["max_s"], name
    for run in range(2):  # each timed generation holds its stages
        parts = sum(stages[name]["runs_s"][run] for name in ("text", "unet_loop", "vae_decode"))
        assert stages["end_to_end"]["runs_s"][run] >= parts
        assert stages["unet_step"]["runs_s"][run] == pytest.approx(stages["unet_loop"]["runs_s"][run] / 2)

    unet_cfg = registry.unet("tiny-0.7b", time_cond_proj_dim=registry.GUIDANCE_EMBED_DIM)
    assert result["flops"]["unet_forward"] == forward_flops(unet_cfg, 2, 8, 8)
    assert result["flops"]["unet_loop"] == 2 * result["flops"]["unet_forward"]
    assert result["flops"]["end_to_end"] == result["flops"]["unet_loop"] + result["flops"]["vae_decode"] > 0
    rate = stages["vae_decode"]["tflops_per_s"]
    assert rate == pytest.approx(result["flops"]["vae_decode"] / stages["vae_decode"]["median_s"] / 1e12)
    assert set(result["compile_s"]) >= {"text_encoder", "sampling_loop", "vae_decode"}
    env = result["environment"]
    assert env["jax"] == jax.__version__ and env["device_kind"] == jax.devices()[0].device_kind
    assert len(env["load_average_at_start"]) == 3 and result["attention"]["requested"] == "auto"
    assert result["peak_host_rss_bytes"] > 0

    table = (tmp_path / f"{stem}.md").read_text()
    assert "| U-Net step (batch 1) |" in table and "| end to end (text + loop + decode) |" in table
    assert "| compile: sampling loop |" in table and "load average" in table and "Notes: test run" in table


@pytest.mark.skipif(not OFFICIAL_CODE, reason="set HUMMINGBIRD_OFFICIAL_CODE to a checkout of AMD-Hummingbird-T2V "
                                              "to run the generation through the official PyTorch modules")
def test_official_pytorch_generation_is_timed_beside_jax_and_gives_the_same_video(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("einops")
    argv = [*TINY, "--warmup", "0", "--repeats", "1", "--torch-reference", OFFICIAL_CODE, "--torch-threads", "1",
            "--out", str(tmp_path)]
    assert cli.main(["bench", "latency", *argv]) == 0
    stem = "latency_tiny-0.7b_2x64x64_2steps_float32_cpu"
    result = json.loads((tmp_path / f"{stem}.json").read_text())
    ref = result["torch_reference"]

    runs = {"jax": result["stages"], "torch float32": ref["stages"]["float32"], "torch bf16": ref["stages"]["bfloat16"]}
    for who, stages in runs.items():
        assert all(stages[name]["runs_s"] and stages[name]["median_s"] > 0 for name in STAGES), who
        assert stages["unet_step"]["median_s"] == pytest.approx(stages["unet_loop"]["median_s"] / 2), who
        parts = sum(stages[name]["median_s"] for name in ("text", "unet_loop", "vae_decode"))
        assert stages["end_to_end"]["median_s"] >= parts, who
    for name in STAGES:
        ratios, jax_s = ref["ratios"][name], result["stages"][name]["median_s"]
        torch_s = {p: ref["stages"][p][name]["median_s"] for p in ("float32", "bfloat16")}
        for precision, seconds in torch_s.items():
            assert ratios[f"jax_to_torch_{precision}"] == pytest.approx(jax_s / seconds), name
        assert ratios["best_torch_median_s"] == min(torch_s.values()) == torch_s[ratios["best_torch"]], name
        assert ratios["jax_to_best_torch"] == pytest.approx(jax_s / min(torch_s.values())), name
    assert ref["modules"]["unet"].endswith("openaimodel3d_t2v_jun_07B.UNetModel") and ref["threads"] == 1

    accuracy = result["accuracy"]
    assert accuracy["jax_max_error_vs_official_fp32"] <= 1e-4  # same weights, tokens and noise
    assert 0 < accuracy["official_bf16_max_error_vs_official_fp32"] < 0.1
    assert "bf16_max_error_vs_fp32" not in accuracy  # a float32 run has no bfloat16 error
    table = (tmp_path / f"{stem}.md").read_text()
    assert "| U-Net loop (2 steps) |" in table and "JAX / best PyTorch" in table
    assert "jax_max_error_vs_official_fp32" in table


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--random-init", "--frames", "1"], "--random-init needs --model"),
        (["--model", "tiny-0.7b", "--random-init", "--height", "100"], "height=100"),
        (["--model", "tiny-0.7b", "--random-init", "--repeats", "0"], "--repeats must be at least 1"),
        (["--checkpoint", "{tmp}/missing"], "checkpoint not found"),
        (["--model", "tiny-0.7b", "--random-init", "--torch-reference", "{tmp}"], "openaimodel3d.py"),
        (["--model", "tiny-0.7b", "--random-init", "--torch-reference", "{tmp}/missing"], "--torch-reference"),
        (["--model", "tiny-teacher", "--random-init", "--torch-reference", "{official}"], "8 GroupNorm groups"),
    ],
)
def test_bad_arguments_are_one_clear_error_before_any_compute(tmp_path, capsys, argv, message):
    official = tmp_path / "official"  # a checkout's layout, enough to pass the folder check
    (official / "lvdm" / "modules" / "networks").mkdir(parents=True)
    (official / "lvdm" / "modules" / "networks" / "openaimodel3d.py").touch()
    argv = [a.replace("{tmp}", str(tmp_path)).replace("{official}", str(official)) for a in argv]
    assert cli.main(["bench", "latency", *argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()
