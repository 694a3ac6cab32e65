"""``hummingbird bench latency`` end to end at a tiny size, and its input checks."""

import json

import jax
import pytest

from hummingbird_jax import cli, registry
from hummingbird_jax.models.unet_stats import forward_flops

TINY = ["--model", "tiny-0.7b", "--random-init", "--frames", "2", "--height", "64", "--width", "64", "--steps", "2",
        "--no-compilation-cache", "--notes", "test run"]


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


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--random-init", "--frames", "1"], "--random-init needs --model"),
        (["--model", "tiny-0.7b", "--random-init", "--height", "100"], "height=100"),
        (["--model", "tiny-0.7b", "--random-init", "--repeats", "0"], "--repeats must be at least 1"),
        (["--checkpoint", "{tmp}/missing"], "checkpoint not found"),
        (["--model", "tiny-0.7b", "--random-init", "--torch-reference", "{tmp}"], "openaimodel3d.py"),
    ],
)
def test_bad_arguments_are_one_clear_error_before_any_compute(tmp_path, capsys, argv, message):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert cli.main(["bench", "latency", *argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()
