"""The U-Net forward benchmark runs end to end at a tiny size and writes complete results; with the
official code present (``HUMMINGBIRD_OFFICIAL_CODE``), its module agrees with ours in the same run."""

from __future__ import annotations

import json
import os

import pytest

from hummingbird_jax.benchmarking import unet_forward

TINY = ["--model-channels", "32", "--head-channels", "16", "--context-dim", "32",
        "--frames", "2", "--height", "16", "--width", "16", "--warmup", "1", "--repeats", "2"]
OFFICIAL_CODE = os.environ.get("HUMMINGBIRD_OFFICIAL_CODE")


def test_tiny_run_writes_json_and_markdown_with_every_figure(tmp_path):
    result = unet_forward.main(["--model", "hb-0.7b", *TINY, "--attention", "xla,chunked",
                                "--out", str(tmp_path), "--name", "unet_forward_tiny"])
    saved = json.loads((tmp_path / "unet_forward_tiny.json").read_text())
    assert saved == json.loads(json.dumps(result))
    assert saved["setup"]["model_channels"] == 32 and saved["setup"]["time_cond_proj_dim"] == 256
    assert saved["parameters"] > 0 and saved["flops_per_forward"] > 0
    assert {"jax", "jaxlib", "flax", "device_kind", "backend"} <= set(saved["environment"])
    assert [row["implementation"] for row in saved["jax"]] == ["xla", "chunked"]
    for row in saved["jax"]:
        assert row["lower_and_compile_s"] > 0
        assert row["step_min_s"] <= row["step_median_s"] <= row["step_max_s"]
        assert len(row["step_times_s"]) == 2
        assert row["gflops_per_s"] == pytest.approx(saved["flops_per_forward"] / row["step_median_s"] / 1e9)
        assert "peak_device_bytes" in row and row["compiled_temp_bytes"] > 0
    # Two attention implementations of the same float32 model give the same output.
    assert saved["jax"][1]["max_rel_error_vs_first"] <= 1e-4
    assert saved["torch"] is None
    table = (tmp_path / "unet_forward_tiny.md").read_text()
    assert "| JAX `xla` |" in table and "| JAX `chunked` |" in table and "GFLOP/s" in table


def test_bad_arguments_fail_before_compiling(tmp_path):
    with pytest.raises(SystemExit):
        unet_forward.main(["--attention", "flash", "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="openaimodel3d.py"):
        unet_forward.main(["--torch-reference", str(tmp_path), "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="divide by 8"):
        unet_forward.main([*TINY, "--height", "12", "--out", str(tmp_path)])
    assert not list(tmp_path.glob("*.json"))


@pytest.mark.skipif(not OFFICIAL_CODE, reason="set HUMMINGBIRD_OFFICIAL_CODE to a checkout of AMD-Hummingbird-T2V "
                                              "to compare with the official PyTorch U-Net")
@pytest.mark.parametrize("model", ["vc2", "hb-0.9b", "hb-0.7b"])
def test_official_module_agrees_in_the_same_run(model, tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("einops")
    result = unet_forward.main(["--model", model, *TINY, "--attention", "xla", "--torch-reference", OFFICIAL_CODE,
                                "--out", str(tmp_path), "--name", "unet_forward_official"])
    torch_row, (row,) = result["torch"], result["jax"]
    assert torch_row["parameters"] == result["parameters"]
    assert torch_row["module"].endswith({"vc2": "openaimodel3d.UNetModel", "hb-0.9b": "_09B.UNetModel",
                                         "hb-0.7b": "_07B.UNetModel"}[model])
    assert row["max_rel_error_vs_torch"] <= 1e-4
    assert row["time_ratio_vs_torch"] == pytest.approx(row["step_median_s"] / torch_row["step_median_s"])
    assert "PyTorch official" in (tmp_path / "unet_forward_official.md").read_text()
